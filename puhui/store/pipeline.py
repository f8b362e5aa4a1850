"""Bulk inserts that run on a second thread while the caller prepares the next rows.

A large SQLite journal append spends about half its time inside SQLite storing rows, and the
`sqlite3` driver releases the GIL for exactly that part (`sqlite3_step`).  So a writer thread can
store one chunk of rows while the caller's thread hashes and builds the next, and the two cores
of a small server both work.  The writer uses the caller's own connection, inside the caller's
transaction: the caller's thread sends nothing on the connection (it only reads its dialect to
build statements) until the pipeline is closed, so it is never used by two threads at once.

The interpreter's switch interval (5 ms by default) is how long a thread that wants the GIL back
waits before the running thread is asked to give it up.  After every statement the writer wants
it back, and waiting 5 ms each time would make the pipeline slower than no pipeline.  While any
pipeline is open the interval is shortened to `SWITCH_INTERVAL_S`, and restored when the last one
closes; other threads of the process then only switch more often meanwhile.
"""

from __future__ import annotations

import queue
import sys
import threading
from types import TracebackType
from typing import Any, Collection, Sequence

from sqlalchemy import Connection, Table

from puhui.store.bulk import sqlite_statements

#: The switch interval while a pipeline is open, in seconds (measured best on 2 cores: 20-50 µs).
SWITCH_INTERVAL_S = 0.000_02

_switching = threading.Lock()
_open_pipelines = 0
_saved_interval = 0.0

_DONE = None  # what the writer thread reads as "no more statements"


class InsertPipeline:
    """SQLite `bulk_insert` calls run in order on a writer thread, in the connection's transaction.

        with InsertPipeline(conn) as pipe:
            for rows in chunks:
                pipe.insert(table, columns, rows)

    Leaving the block waits for every insert; the first insert that fails is raised there (or by
    the next `insert`), as `bulk_insert` would have raised it, and nothing after it is written.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        if conn.dialect.name != "sqlite":
            raise ValueError(f"an insert pipeline is for SQLite, not {conn.dialect.name}")
        self._work: queue.SimpleQueue[tuple[str, list[tuple]] | None] = queue.SimpleQueue()
        self._failure: BaseException | None = None
        self._writer = threading.Thread(target=self._write, name="puhui-insert-pipeline",
                                        daemon=True)
        self._started = threading.Event()
        self._threaded = False  # until the writer thread finds it may use the connection
        self._open = False

    def __enter__(self) -> "InsertPipeline":
        _shorten_switch_interval()
        try:
            self._writer.start()
            self._started.wait()
        except BaseException:
            self._work.put(_DONE)
            _restore_switch_interval()
            raise
        if not self._threaded:  # e.g. an in-memory database, bound to the thread that made it
            self._writer.join()
            _restore_switch_interval()
        self._open = True
        return self

    def insert(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
               prebound: Collection[str] = ()) -> None:
        """Queue `bulk_insert(conn, table, columns, rows, prebound)`; raise an earlier failure.

        The statements and their parameters are built here, on the caller's thread: the writer
        thread should hold the GIL as little as possible.
        """
        if not self._open:
            raise RuntimeError("the insert pipeline is not open")
        if self._failure is not None:
            raise self._failure
        for statement in sqlite_statements(self._conn, table, columns, rows, prebound):
            if self._threaded:
                self._work.put(statement)
            else:
                self._conn.exec_driver_sql(*statement)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._open = False
        if not self._threaded:
            return
        self._work.put(_DONE)
        try:
            self._writer.join()  # the connection is the caller's again only after this
        finally:
            _restore_switch_interval()
        if error is None and self._failure is not None:
            raise self._failure

    def _write(self) -> None:
        try:
            # A connection made with check_same_thread (SQLAlchemy's default for an in-memory
            # database) refuses every other thread: then the caller's thread inserts itself.
            self._conn.connection.driver_connection.execute("SELECT 1").close()
            self._threaded = True
        except Exception:
            return
        finally:
            self._started.set()
        while (item := self._work.get()) is not _DONE:
            if self._failure is not None:
                continue  # drain: nothing after a failed insert is written
            try:
                self._conn.exec_driver_sql(*item)
            except BaseException as exc:  # handed to the caller's thread, which raises it
                self._failure = exc


def _shorten_switch_interval() -> None:
    global _open_pipelines, _saved_interval
    with _switching:
        if _open_pipelines == 0:
            _saved_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(_saved_interval, SWITCH_INTERVAL_S))
        _open_pipelines += 1


def _restore_switch_interval() -> None:
    global _open_pipelines
    with _switching:
        _open_pipelines -= 1
        if _open_pipelines == 0:
            sys.setswitchinterval(_saved_interval)
