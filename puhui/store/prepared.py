"""Statements compiled once and sent straight to the driver: the keyed reads and one-row INSERTs
a request makes by the dozen.

SQLAlchemy's `Connection.execute` spends about 30 µs around each statement (cache lookup,
execution context, result object), ten times what SQLite takes to find a row by its key or
insert one; a straight-through application makes a dozen such statements.  A
`PreparedStatement` compiles its Core statement once per dialect and set of parameter names;
each call converts the parameters with the type processors SQLAlchemy would apply, runs the SQL
on the driver's cursor inside the connection's transaction, and converts the result values back
the same way, so what is written and read is exactly what `Connection.execute` would write and
read.  Driver errors are raised as SQLAlchemy raises them (`sqlalchemy.exc.IntegrityError` ...),
re-classed as the typed storage errors (`puhui.store.faults`).

The short path is taken where the dialect binds parameters by position (SQLite's ``?``) and the
caller supplies every parameter; otherwise (PostgreSQL's named parameters, a statement with
Python-side defaults or expanding parameters) the statement goes through `Connection.execute`:
the same outcome, only slower.

A `Session` may defer its writes instead of sending them (see `puhui.store.planned`): the
function at ``session.info[DEFERRED_WRITES]`` is then called with each (statement, parameters)
and decides what to do with it.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any, Callable, Mapping, Sequence, Union

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from puhui.store import faults

#: Key of `Session.info` under which a session that defers its writes keeps the function that
#: takes each of them.
DEFERRED_WRITES = "puhui.deferred_writes"

Parameters = Mapping[str, Any]
Target = Union[Session, Connection]


class _Compiled:
    """One compiled form: SQL text, parameter names in position order and their converters."""

    __slots__ = ("sql", "names", "binders", "row", "results", "direct")

    def __init__(self, statement: Executable, conn: Connection, keys: tuple[str, ...]) -> None:
        dialect = conn.dialect
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        self.sql = compiled.string
        positions = tuple(compiled.positiontup or ()) if compiled.positional else ()
        # The short path needs every value from the caller and nothing computed at run time.
        self.direct = bool(compiled.positional and set(positions) <= set(keys)
                           and not getattr(compiled, "insert_prefetch", None)
                           and not getattr(compiled, "post_compile_params", None)
                           and not getattr(compiled, "literal_execute_params", None))
        self.names = positions
        self.binders = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                             for name in positions)
        selected = getattr(statement, "selected_columns", None)
        if selected is not None and statement.is_select:
            self.row = namedtuple("Row", list(selected.keys()), rename=True)  # type: ignore[misc]
            self.results: tuple[Callable[[Any], Any] | None, ...] | None = tuple(
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in selected)
        else:
            self.row, self.results = None, None

    def bind(self, params: Parameters) -> tuple:
        return tuple(params[name] if proc is None else proc(params[name])
                     for name, proc in zip(self.names, self.binders))


class PreparedStatement:
    """A Core statement run by the shortest path its database allows (see the module's doc)."""

    __slots__ = ("statement", "_forms")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._forms: dict[tuple[int, tuple[str, ...]], _Compiled] = {}

    def __repr__(self) -> str:
        return f"PreparedStatement({self.statement})"

    def rows(self, target: Target, params: Parameters | None = None) -> list[Any]:
        """Every row the query returns, as named tuples (columns by position or by name)."""
        if not self.statement.is_select:  # refused before anything is sent
            raise TypeError(f"not a query: {self.statement}")
        conn = _connection(target)
        params = params or {}
        form = self._form(conn, tuple(params))
        if not form.direct:
            return list(conn.execute(self.statement, dict(params)))
        found = _run(conn, form, form.bind(params), many=False).fetchall()
        results, make = form.results, form.row
        assert results is not None and make is not None  # a query's form has both
        if any(results):
            return [make(*[v if p is None or v is None else p(v) for p, v in zip(results, row)])
                    for row in found]
        return [make(*row) for row in found]

    def first(self, target: Target, params: Parameters | None = None) -> Any | None:
        """The first row the query returns, or None."""
        rows = self.rows(target, params)
        return rows[0] if rows else None

    def execute(self, target: Target, params: Parameters | Sequence[Parameters]) -> int:
        """Run a write with one set of parameters, or once per set in a list (all with the
        same names); the number of rows affected (-1 where the driver does not say).

        A session that defers its writes keeps the statement instead (see the module's doc).
        """
        if isinstance(target, Session):
            defer = target.info.get(DEFERRED_WRITES)
            if defer is not None:
                defer(self, params)
                return -1
        conn = _connection(target)
        many = not isinstance(params, Mapping)
        if many and not params:
            return 0
        first: Parameters = params[0] if many else params  # type: ignore[index,assignment]
        form = self._form(conn, tuple(first))
        if not form.direct:
            batch = [dict(p) for p in params] if many else dict(params)  # type: ignore[union-attr]
            return conn.execute(self.statement, batch).rowcount
        if many:
            bound = [form.bind(p) for p in params]  # type: ignore[union-attr]
        else:
            bound = form.bind(params)  # type: ignore[arg-type]
        return _run(conn, form, bound, many).rowcount

    def _form(self, conn: Connection, keys: tuple[str, ...]) -> _Compiled:
        key = (id(conn.dialect), keys)
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = _Compiled(self.statement, conn, keys)
        return form


def _connection(target: Target) -> Connection:
    """The SQLAlchemy connection behind `target`, inside a transaction (begun if need be, so the
    statement never runs outside one).  A session's pending objects are flushed first, as its
    own `execute` would, so the statement sees (and comes after) them."""
    if isinstance(target, Session):
        if target.autoflush:
            target.flush()
        return _in_transaction(target.connection())
    return _in_transaction(target)


def _in_transaction(conn: Connection) -> Connection:
    if not conn.in_transaction():
        conn.begin()
    return conn


def _run(conn: Connection, form: _Compiled, bound: Any, many: bool) -> Any:
    driver = conn.connection.driver_connection
    try:
        cursor = driver.cursor()
        if many:
            cursor.executemany(form.sql, bound)
        else:
            cursor.execute(form.sql, bound)
        return cursor
    except conn.dialect.loaded_dbapi.Error as exc:
        raise faults.typed(DBAPIError.instance(form.sql, bound, exc,
                                               conn.dialect.loaded_dbapi.Error,
                                               dialect=conn.dialect)) from exc
