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
pending.  Work that reads back what it wrote must keep it in memory instead.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from sqlalchemy import event
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.orm import ORMExecuteState, Session

from puhui.services.platform import _EVIDENCE, Platform
from puhui.store.db import READ_ONLY

_PLAN = "puhui.plan"


class UnplannableWrite(RuntimeError):
    """The work wrote something other than an INSERT: it cannot be planned, and its caller does
    it again as an ordinary unit of work (nothing of the planned attempt was written)."""


class Plan:
    """The INSERTs a planned unit issued, in order, and the checks to repeat before writing."""

    def __init__(self) -> None:
        self.writes: list[tuple[Any, Any]] = []
        self.checks: list[Callable[[Session], None]] = []

    def write(self, session: Session) -> None:
        """Repeat the checks, then issue the INSERTs, in `session`'s (write) transaction."""
        for check in self.checks:
            check(session)
        conn = session.connection()  # Core: the statements are plain INSERTs, the ORM adds cost
        for statement, parameters in self.writes:
            conn.execute(statement, parameters)


def check_at_commit(session: Session, check: Callable[[Session], None]) -> None:
    """Have `check` run again just before a planned unit's writes (in their transaction); in an
    ordinary unit the caller's own check already ran in the transaction that writes."""
    plan = session.info.get(_PLAN)
    if plan is not None:
        plan.checks.append(check)


@contextmanager
def planned(platform: Platform) -> Iterator[tuple[Session, Plan]]:
    """A read session whose INSERTs are collected into the yielded `Plan` (write it with
    `platform.unit()`).  Evidence kept with `keep_on_failure` is written if the work fails, as
    an ordinary unit does."""
    plan, evidence = Plan(), []
    try:
        with platform.read() as session:
            session.info[_PLAN] = plan
            session.info[_EVIDENCE] = evidence
            event.listen(session, "do_orm_execute", _collect)
            with _read_only(session):
                yield session, plan
            if session.new or session.dirty or session.deleted:
                raise UnplannableWrite("a planned unit cannot flush ORM objects; issue INSERTs")
    except UnplannableWrite:
        raise  # the caller does the work again as an ordinary unit, which keeps the evidence
    except BaseException:
        if evidence:
            with platform.unit() as session:
                for write in evidence:
                    write(session)
        raise


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
    if not state.is_insert:
        raise UnplannableWrite(f"a planned unit can only INSERT, not: {state.statement}")
    plan.writes.append((state.statement, state.parameters))
    return IteratorResult(SimpleResultMetaData([]), iter([]))
