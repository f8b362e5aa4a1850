"""Bulk row writes, the fastest way each backend offers, inside the caller's transaction.

A nightly batch posts hundreds of thousands of journal lines.  Measured on the same machine,
SQLAlchemy's per-row parameter handling costs more than the database's own work, so rows go in
as plain tuples: PostgreSQL gets `COPY ... FROM STDIN` (several times faster than multi-row
INSERT, and triggers and constraints still fire), SQLite gets a prepared multi-row INSERT
(`VALUES (...), (...), ...`, up to `SQLITE_MAX_PARAMETERS` values) run with `executemany`: one
statement execution per row costs SQLite and the driver about as much again as the row's own
b-tree work, so packing many rows into one execution makes a bulk load about a fifth cheaper.
Column types still convert values exactly as SQLAlchemy would, so rows written here read back
through the models unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Dialect,
    LargeBinary,
    Table,
    insert,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from puhui.runtime import collector_paused  # noqa: F401  (re-exported)
from puhui.store import faults
from puhui.store.models import UTCDateTime

#: Bound parameters per SQLite statement at most: far below SQLite's own limit (32,766 since
#: 3.32), and past a few hundred more rows per execution gain nothing.
SQLITE_MAX_PARAMETERS = 999


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str],
                rows: Iterable[Sequence[Any]], prebound: Collection[str] = ()) -> int:
    """Insert `rows` (tuples in `columns` order) into `table`; return how many were written.

    Columns named in `prebound` already hold what `bound_values` gave, and are not converted again
    (a caller that builds its rows anyway saves a pass over them).  On PostgreSQL `rows` may be
    a lazy iterable: each row is sent as soon as it is made, so the server stores rows while the
    caller is still making the next ones.
    """
    if isinstance(rows, Sequence) and not rows:
        return 0
    if conn.dialect.name == "postgresql":
        converters = _converters(conn, table, columns, prebound)
        if converters:
            rows = (_convert_row(row, converters) for row in rows)
        return _copy(conn, table, columns, rows)
    rows = rows if isinstance(rows, Sequence) else list(rows)
    for sql, parameters in sqlite_statements(conn, table, columns, rows, prebound):
        conn.exec_driver_sql(sql, parameters)
    return len(rows)


#: Values per statement of `select_in` at most.
SELECT_IN_CHUNK = 50_000


def select_in(conn: Connection, sql: str, values: Sequence[Any],
              chunk: int = SELECT_IN_CHUNK) -> Iterator[tuple]:
    """The rows of `sql` for `values`, read as the driver gives them (no type conversion).

    `sql` names the list as `{values}`, written where an IN list would go (``... WHERE
    loan_id {values}``): one bound parameter on either backend, whatever the count (SQLite
    reads it as a JSON array, `IN (SELECT value FROM json_each(?))`; PostgreSQL as an array,
    `= ANY(%s)`), so neither SQLAlchemy's expansion of an IN list nor its row processing is
    paid per value: for a book of 200,000 loans they cost more than the reads themselves."""
    if conn.dialect.name == "postgresql":
        statement, pack = sql.format(values="= ANY(%s)"), list
    else:
        statement = sql.format(values="IN (SELECT value FROM json_each(?))")
        pack = json.dumps  # type: ignore[assignment]
    for start in range(0, len(values), chunk):
        yield from conn.exec_driver_sql(statement, (pack(list(values[start:start + chunk])),))


def connection_of(bind: Session | Connection) -> Connection:
    """The connection behind a session or a connection, for the reads through the driver."""
    return bind.connection() if isinstance(bind, Session) else bind


def _sqlite_date(v: Any) -> date | None:
    return None if v is None else date.fromisoformat(v)


def _sqlite_flag(v: Any) -> bool | None:
    return None if v is None else bool(v)


def _utc_stamp(v: Any) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, str):  # SQLite's text, naive UTC
        v = datetime.fromisoformat(v)
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _bytes(v: Any) -> Any:
    return bytes(v) if isinstance(v, memoryview) else v


def result_converters(conn: Connection, columns: Sequence[Any]
                      ) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, conversion) of the selected `columns` (table columns, in select order) whose
    driver value is not what SQLAlchemy's row processing would give: SQLite's dates as ISO
    text and flags as 0/1, UTC timestamps (`UTCDateTime`) naive or in the session's zone, a
    driver's memoryview of a binary.  What `typed_rows` applies to a raw read's rows."""
    sqlite = conn.dialect.name == "sqlite"
    out: list[tuple[int, Callable[[Any], Any]]] = []
    for i, column in enumerate(columns):
        kind = column.type
        if isinstance(kind, UTCDateTime):
            out.append((i, _utc_stamp))
        elif isinstance(kind, DateTime):
            raise NotImplementedError(f"a raw read of {column}: only UTCDateTime stamps")
        elif isinstance(kind, Date):
            if sqlite:
                out.append((i, _sqlite_date))
        elif isinstance(kind, Boolean):
            if sqlite:
                out.append((i, _sqlite_flag))
        elif isinstance(kind, LargeBinary):
            if not sqlite:
                out.append((i, _bytes))
    return out


def typed_rows(rows: Iterable[Sequence[Any]], make: Any,
               convert: Sequence[tuple[int, Callable[[Any], Any]]]) -> list[Any]:
    """The driver's `rows` as `make` (a named tuple class) with `convert`'s columns converted:
    the values and types SQLAlchemy's rows would carry, without its per-row processing."""
    if not convert:
        return [make._make(row) for row in rows]
    out = []
    for row in rows:
        cells = list(row)
        for i, f in convert:
            cells[i] = f(cells[i])
        out.append(make._make(cells))
    return out


def bound_values(conn: Connection, table: Table, column: str,
                 values: Iterable[Any]) -> dict[Any, Any]:
    """Each distinct value of `values` as `table.column` binds it on this connection's database
    (for rows passed to `bulk_insert` with the column in `prebound`).

    On PostgreSQL a date or time is given as its ISO 8601 text, which is what COPY sends and the
    server parses to the same value: letting the driver format a date object row after row costs
    more than the rest of a journal row together.
    """
    proc = _bind_processor(table, column, conn)
    bound = {value: value if proc is None else proc(value) for value in values}
    if conn.dialect.name == "postgresql":
        bound = {value: _iso(b) for value, b in bound.items()}
    return bound


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value  # datetime is a date too


def _converters(conn: Connection, table: Table, columns: Sequence[str],
                prebound: Collection[str]) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, bind processor) of each column in `columns` whose values need converting."""
    return [(i, proc) for i, name in enumerate(columns) if name not in prebound
            and (proc := _bind_processor(table, name, conn)) is not None]


def _bind_processor(table: Table, name: str, conn: Connection) -> Callable[[Any], Any] | None:
    column_type = table.c[name].type
    return column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)


def _copy(conn: Connection, table: Table, columns: Sequence[str],
          rows: Iterable[Sequence[Any]]) -> int:
    driver = conn.connection.driver_connection  # the transaction's own psycopg connection
    if driver is None:
        raise RuntimeError("the connection is closed")
    cursor = driver.cursor()
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in columns)
    name = conn.dialect.identifier_preparer.format_table(table)
    statement = f"COPY {name} ({quoted}) FROM STDIN"
    written = 0
    try:
        with cursor.copy(statement) as copy:
            write = copy.write_row
            for row in rows:
                write(row)
                written += 1
    except conn.dialect.loaded_dbapi.Error as exc:
        # the driver's own error, raised as SQLAlchemy raises it for any other statement (an
        # IntegrityError for a broken constraint), so callers handle COPY like any INSERT
        raise faults.typed(DBAPIError.instance(statement, None, exc,
                                               conn.dialect.loaded_dbapi.Error,
                                               dialect=conn.dialect)) from exc
    finally:
        cursor.close()
    return written


def sqlite_statements(conn: Connection, table: Table, columns: Sequence[str],
                      rows: Sequence[Sequence[Any]], prebound: Collection[str] = ()
                      ) -> list[tuple[str, list[tuple]]]:
    """`bulk_insert` on SQLite as (statement, parameter sets) pairs for `executemany`, built but
    not run: multi-row INSERTs of as many rows as `SQLITE_MAX_PARAMETERS` allows, then one for
    the remainder.

    The driver's binding of each value is a large part of an insert's cost, so values that need
    no binding per row are not bound per row:
    - a column that is NULL in every row is left out (it defaults to NULL; the driver binds None
      through its adapter lookup, which costs more than an integer or text);
    - a text column with the same value in every row (a batch's time stamp, usually its date,
      description and currency) is bound once per statement, as a numbered parameter that
      every row of the statement refers to.
    """
    if not rows:
        return []
    converters = _converters(conn, table, columns, prebound)
    if converters:
        rows = _convert(rows, converters)
    keep = [i for i, name in enumerate(columns)
            if not table.c[name].nullable or rows[0][i] is not None
            or list(map(itemgetter(i), rows)).count(None) < len(rows)] or [0]
    shared = _shared_columns(rows, keep)
    varying = [i for i in keep if i not in shared]
    sql = _insert_sql(conn, table, tuple(columns[i] for i in keep))
    slots = tuple(-1 - shared.index(i) if i in shared else varying.index(i) for i in keep)
    constants = tuple(rows[0][i] for i in shared)
    pick = itemgetter(*varying) if len(varying) > 1 else lambda row: (row[varying[0]],)
    flat = list(chain.from_iterable(map(pick, rows)))
    width = len(varying)
    per = max(1, (SQLITE_MAX_PARAMETERS - len(shared)) // width)
    full = len(rows) - len(rows) % per
    statements = []
    if full:
        step = per * width
        statements.append((_multi_row(sql, per, slots),
                           [constants + tuple(flat[i:i + step])
                            for i in range(0, full * width, step)]))
    if full < len(rows):
        statements.append((_multi_row(sql, len(rows) - full, slots),
                           [constants + tuple(flat[full * width:])]))
    return statements


def _shared_columns(rows: Sequence[Sequence[Any]], candidates: Sequence[int]) -> list[int]:
    """Those of the `candidates` that are text columns with the same value in every row, leaving
    at least one candidate that is not (text only: 1, 1.0 and True are equal but bind
    differently, and text is what costs the driver most to bind)."""
    if len(rows) < 2:
        return []
    first, last = rows[0], rows[-1]
    shared = []
    for i in candidates:
        value = first[i]
        if (type(value) is str and last[i] == value
                and list(map(itemgetter(i), rows)).count(value) == len(rows)):
            shared.append(i)
    return shared[:len(candidates) - 1]


@lru_cache(maxsize=256)
def _multi_row(sql: str, n: int, slots: tuple[int, ...]) -> str:
    """`sql` (a one-row INSERT ... VALUES (?, ...)) inserting `n` rows per execution.

    `slots` says where each column's value comes from: `-k` is the statement's shared value
    ?k, `j >= 0` the row's own j-th value (numbered after the shared ones, row by row).
    """
    head, sep, _ = sql.partition(" VALUES ")
    if not sep:
        raise ValueError(f"not a one-row INSERT ... VALUES statement: {sql}")
    shared = sum(1 for slot in slots if slot < 0)
    width = len(slots) - shared
    rows = []
    for r in range(n):
        base = shared + r * width + 1
        rows.append("(" + ", ".join(f"?{-slot}" if slot < 0 else f"?{base + slot}"
                                    for slot in slots) + ")")
    return f"{head} VALUES {', '.join(rows)}"


def _insert_sql(conn: Connection, table: Table, columns: Sequence[str]) -> str:
    return _compiled_insert(conn.dialect, table, tuple(columns))


@lru_cache(maxsize=256)
def _compiled_insert(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> str:
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
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


def _convert_row(row: Sequence[Any],
                 converters: list[tuple[int, Callable[[Any], Any]]]) -> Sequence[Any]:
    out = list(row)
    for i, proc in converters:
        out[i] = proc(out[i])
    return out


def _convert_column(column: Sequence[Any], proc: Callable[[Any], Any]) -> Sequence[Any]:
    try:
        converted = {value: proc(value) for value in dict.fromkeys(column)}
    except TypeError:  # unhashable values: convert every one
        return [proc(value) for value in column]
    return list(map(converted.__getitem__, column))
