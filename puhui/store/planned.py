"""Work that reads and decides first, and takes SQLite's single write lock only to write.

A straight-through application reads the applicant, its consents and its data, runs the identity
checks and the decider and prices the offer: milliseconds of work that writes nothing until the
end.  Inside an ordinary unit of work all of it holds SQLite's one write lock, so a second server
process only waits.  A planned unit runs the same service code in a read transaction instead;
the INSERTs it issues are kept, not sent, and are then written in one short write transaction,
after the checks the work registered with `check_at_commit` (e.g. "the consent used is still in
force") have passed again under the lock.

Only INSERTs can be planned (an UPDATE's outcome depends on the rows it finds, which can change
before the write): any other write raises `UnplannableWrite`, and so does an ORM object left
pending.  Work that reads back what it wrote must keep it in memory instead.  INSERTs issued as
`PreparedStatement`s are kept as they are; those issued through the session are kept as
prepared statements too, so the write runs them by the short path either way.

Transactions: `planned` opens the read transaction and rolls it back at the end (nothing of it
is committed); `Plan.write` runs in the write transaction its caller passes in, which the caller
commits (`Platform.write_connection` or `Platform.unit`).  The services reach this module
through `puhui.services.planned`, which binds it to a platform.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Callable, Iterator, Union
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from sqlalchemy.sql import Executable

from puhui.store.db import READ_ONLY
from puhui.store.prepared import DEFERRED_WRITES, PreparedStatement

#: What a plan is written with: a write session, or a bare connection in a write transaction.
Writer = Union[Session, Connection]

_PLAN = "puhui.plan"


class UnplannableWrite(RuntimeError):
    """The work wrote something other than an INSERT: it cannot be planned, and its caller does
    it again as an ordinary unit of work (nothing of the planned attempt was written)."""


class Plan:
    """The INSERTs a planned unit issued, in order, and the checks to repeat before writing."""

    def __init__(self) -> None:
        self.writes: list[tuple[PreparedStatement, Any]] = []
        self.checks: list[Callable[[Writer], None]] = []

    def defer(self, statement: PreparedStatement, parameters: Any) -> None:
        """Keep an INSERT for the write; refuse any other write."""
        if not statement.statement.is_insert:
            raise UnplannableWrite(f"a planned unit can only INSERT, not: {statement.statement}")
        self.writes.append((statement, parameters))

    def write(self, writer: Writer) -> None:
        """Repeat the checks, then issue the INSERTs, in `writer`'s (write) transaction."""
        for check in self.checks:
            check(writer)
        conn = writer.connection() if isinstance(writer, Session) else writer
        for statement, parameters in self.writes:
            statement.execute(conn, parameters)


def check_at_commit(session: Session, check: Callable[[Writer], None]) -> None:
    """Have `check` run again just before a planned unit's writes (in their transaction); in an
    ordinary unit the caller's own check already ran in the transaction that writes."""
    plan = session.info.get(_PLAN)
    if plan is not None:
        plan.checks.append(check)


def write_at_commit(session: Session, write: Callable[[Writer], None]) -> None:
    """Run `write` in the transaction that writes the unit: at once in an ordinary unit, and in
    a planned one just before its INSERTs (with its checks, under the write lock).  For a write
    whose outcome does not depend on what the reads found, such as dropping derived rows the
    unit's INSERTs make stale (a planned unit can plan only INSERTs)."""
    plan = session.info.get(_PLAN)
    if plan is not None:
        plan.checks.append(write)
    else:
        write(session)


@contextmanager
def planned(engine: Engine, evidence_key: str,
            write_evidence: Callable[[list[Callable[[Session], None]]], None]
            ) -> Iterator[tuple[Session, Plan]]:
    """A read session on `engine` whose INSERTs are collected into the yielded `Plan` (the
    caller writes it in a write transaction of its own).  The session keeps a list under
    ``session.info[evidence_key]`` of writes to make if the work fails; if it does,
    `write_evidence` is called with them (as an ordinary unit of work does)."""
    plan: Plan = Plan()
    evidence: list[Callable[[Session], None]] = []
    try:
        with _planning_sessions(engine)() as session:
            session.info[_PLAN] = plan
            session.info[DEFERRED_WRITES] = plan.defer
            session.info[evidence_key] = evidence
            with _read_only(session):
                yield session, plan
            if session.new or session.dirty or session.deleted:
                raise UnplannableWrite("a planned unit cannot flush ORM objects; issue INSERTs")
    except UnplannableWrite:
        raise  # the caller does the work again as an ordinary unit, which keeps the evidence
    except BaseException:
        if evidence:
            write_evidence(evidence)
        raise


_FACTORIES: "WeakKeyDictionary[Engine, sessionmaker[Session]]" = WeakKeyDictionary()


def _planning_sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions on `engine` that collect their INSERTs, the listener registered once on their
    factory (registering it on each session costs more than the session).  Closing such a
    session rolls its read transaction back: nothing it did is committed."""
    factory = _FACTORIES.get(engine)
    if factory is None:
        factory = _FACTORIES[engine] = sessionmaker(engine)
        event.listen(factory, "do_orm_execute", _collect)
    return factory


@contextmanager
def _read_only(session: Session) -> Iterator[None]:
    """The database refuses any write that bypasses the plan (one sent on the session's
    connection directly), so none is lost silently when the read transaction ends."""
    conn = session.connection()
    if conn.get_execution_options().get(READ_ONLY):
        yield  # the platform's SQLite read engine refuses writes already
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")
        try:
            yield
        finally:
            conn.exec_driver_sql("PRAGMA query_only = OFF")
    else:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        yield


def _collect(state: ORMExecuteState) -> IteratorResult | None:
    plan = state.session.info.get(_PLAN)
    if plan is None or not (state.is_insert or state.is_update or state.is_delete):
        return None
    plan.defer(_prepared(state.statement), state.parameters or {})
    return IteratorResult(SimpleResultMetaData([]), iter([]))


@lru_cache(maxsize=256)
def _prepared(statement: Executable) -> PreparedStatement:
    """The prepared form of an INSERT issued through the session (module-level statements are
    the same object each time, so each is compiled once)."""
    return PreparedStatement(statement)
