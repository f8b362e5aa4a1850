"""The database's refusals as Puhui's typed storage errors (`puhui.errors.StorageError`).

A constraint that refuses a write raises SQLAlchemy's `IntegrityError`; a lock not granted in
time, a read-only database or a lost server raise its `OperationalError`.  The layers above the
store must tell these apart (a concurrent request with the same idempotency key committed first;
the database is busy) without importing SQLAlchemy, so every engine the platform uses re-classes
them as they are raised: the error becomes `WriteConflictError` (an `IntegrityError` and a
`puhui.errors.WriteConflict`) or `UnavailableError` (an `OperationalError` and a
`puhui.errors.StorageUnavailable`).  Its message, cause and attributes are those SQLAlchemy
gave it, and code that catches SQLAlchemy's classes (the store's own, the loan book) catches it
as before.
"""

from __future__ import annotations

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import IntegrityError, OperationalError

from puhui.errors import StorageUnavailable, WriteConflict


class WriteConflictError(IntegrityError, WriteConflict):
    """SQLAlchemy's `IntegrityError`, also a `puhui.errors.WriteConflict`."""


class UnavailableError(OperationalError, StorageUnavailable):
    """SQLAlchemy's `OperationalError`, also a `puhui.errors.StorageUnavailable`."""


def typed(exc: BaseException) -> BaseException:
    """`exc` re-classed as its typed storage error where it is one of the two kinds (the same
    object: raise it as it is); any other error unchanged."""
    if type(exc) is IntegrityError:  # exactly: a subclass keeps its own class
        exc.__class__ = WriteConflictError
    elif type(exc) is OperationalError:
        exc.__class__ = UnavailableError
    return exc


def _on_error(context: ExceptionContext) -> None:
    if context.sqlalchemy_exception is not None:
        typed(context.sqlalchemy_exception)


def install(engine: Engine) -> Engine:
    """Have `engine` raise the typed storage errors (once per engine; returns it)."""
    if not event.contains(engine, "handle_error", _on_error):
        event.listen(engine, "handle_error", _on_error)
    return engine
