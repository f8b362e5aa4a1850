"""One daily close of a book at a time, across processes: the close's own lock.

A close runs partition by partition in many transactions, so no transaction lock covers it.
Two closes side by side would not double-charge (each partition takes only the loans not yet
closed for the day, under the chain's head lock), but they would interleave their partitions
and each report half a day.  The scheduler, `puhui eod` and the API all close through
`LoanBook.end_of_day`, which holds this lock for the whole run: a second close is refused at
once with `CloseInProgress`, never queued behind the first.

PostgreSQL: a session-level advisory lock on a connection held for the close (released when
that connection ends, so a killed close frees it).  SQLite: an exclusive `flock` on a file beside
the database (released by the kernel when the process dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from typing import Iterator

from sqlalchemy import Engine, text

from puhui.errors import CloseInProgress

#: The advisory lock's key on PostgreSQL (any constant that no other part of Puhui uses).
ADVISORY_KEY = 0x70756875_636C6F  # "puhu" "clo"
SUFFIX = ".close-lock"
_THREADS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


@contextlib.contextmanager
def close_lock(engine: Engine) -> Iterator[None]:
    """Hold the book's close lock for the block, or raise `CloseInProgress`."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                               {"k": ADVISORY_KEY}).scalar_one()
            conn.commit()
            if not got:
                raise CloseInProgress("another close of this book is running; try again when "
                                      "it has finished")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                conn.commit()
        return
    database = engine.url.database
    name = os.path.abspath(database) if database not in (None, "", ":memory:") else ":memory:"
    with _GUARD:
        threads = _THREADS.setdefault(name, threading.Lock())
    if not threads.acquire(blocking=False):
        raise CloseInProgress("another close of this book is running in this process")
    try:
        if name == ":memory:":
            yield
            return
        fd = os.open(name + SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CloseInProgress("another close of this book is running; try again when "
                                      "it has finished") from None
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        threads.release()


__all__ = ["ADVISORY_KEY", "close_lock"]
