"""Bulk row writes, the fastest way each backend offers, inside the caller's transaction.

A nightly batch posts hundreds of thousands of journal lines.  Measured on the same machine,
SQLAlchemy's per-row parameter handling costs more than the database's own work, so rows go in
as plain tuples: PostgreSQL gets `COPY ... FROM STDIN` (several times faster than multi-row
INSERT, and triggers and constraints still fire), SQLite gets one prepared INSERT run with
`executemany`.  Column types still convert values exactly as SQLAlchemy would, so rows written
here read back through the models unchanged.
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Iterable, Sequence

from sqlalchemy import Connection, Table, insert


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str],
                rows: Sequence[Sequence[Any]], prebound: Collection[str] = ()) -> int:
    """Insert `rows` (tuples in `columns` order) into `table`; return how many were written.

    Columns named in `prebound` already hold what `bound_values` gave, and are not converted again
    (a caller that builds its rows anyway saves a pass over them).
    """
    if not rows:
        return 0
    dialect = conn.dialect
    converters = [(i, proc) for i, name in enumerate(columns) if name not in prebound
                  and (proc := _bind_processor(table, name, conn)) is not None]
    if converters:
        rows = _convert(rows, converters)
    if dialect.name == "postgresql":
        _copy(conn, table, columns, rows)
    else:
        conn.exec_driver_sql(_insert_sql(conn, table, columns), list(rows))
    return len(rows)


def bound_values(conn: Connection, table: Table, column: str,
                 values: Iterable[Any]) -> dict[Any, Any]:
    """Each distinct value of `values` as `table.column` binds it on this connection's database
    (for rows passed to `bulk_insert` with the column in `prebound`)."""
    proc = _bind_processor(table, column, conn)
    return {value: value if proc is None else proc(value) for value in values}


def _bind_processor(table: Table, name: str, conn: Connection) -> Callable[[Any], Any] | None:
    column_type = table.c[name].type
    return column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)


def _copy(conn: Connection, table: Table, columns: Sequence[str],
          rows: Sequence[Sequence[Any]]) -> None:
    driver = conn.connection.driver_connection  # the transaction's own psycopg connection
    if driver is None:
        raise RuntimeError("the connection is closed")
    cursor = driver.cursor()
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in columns)
    name = conn.dialect.identifier_preparer.format_table(table)
    try:
        with cursor.copy(f"COPY {name} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def _insert_sql(conn: Connection, table: Table, columns: Sequence[str]) -> str:
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(columns))
    order = list(compiled.positiontup or ())
    if order != list(columns):
        raise ValueError(f"columns must be given in table order: {order}")
    return str(compiled)


def _convert(rows: Sequence[Sequence[Any]],
             converters: list[tuple[int, Callable[[Any], Any]]]) -> list[tuple]:
    """`rows` with each converted column's values passed through its processor, column by column
    (a batch repeats its dates, so each distinct value is converted once)."""
    values = list(zip(*rows))
    for i, proc in converters:
        values[i] = _convert_column(values[i], proc)
    return list(zip(*values))


def _convert_column(column: Sequence[Any], proc: Callable[[Any], Any]) -> Sequence[Any]:
    try:
        converted = {value: proc(value) for value in dict.fromkeys(column)}
    except TypeError:  # unhashable values: convert every one
        return [proc(value) for value in column]
    return list(map(converted.__getitem__, column))
