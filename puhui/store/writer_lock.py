"""One SQLite writer at a time, across the threads and processes of this platform, without sleeps.

SQLite has a single writer.  A connection that finds the write lock taken retries from its busy
handler, which sleeps between tries (1, 2, 5, 10 ... up to 100 ms): with two server processes
taking turns every few milliseconds, most of that sleep is lost time and the second process adds
nothing.  Writers that take this lock first queue in the kernel instead (`flock` on a file beside
the database), and the next one wakes the moment the lock is released.  Another program writing
the same file without it still works: SQLite's own locking stays the guarantee, this only saves
the sleeps.
"""

from __future__ import annotations

import fcntl
import os
import threading
from types import TracebackType

#: Appended to the database file's path to name the lock file beside it.
SUFFIX = ".writer-lock"


class SqliteWriterLock:
    """A re-entrant lock for one SQLite database file: a thread lock inside this process, and an
    exclusive `flock` on the lock file (held while any thread here holds the lock) between
    processes.  `path` None (an in-memory database) locks between threads only."""

    def __init__(self, path: str | None) -> None:
        self._lock_file = None if path is None else path + SUFFIX
        self._threads = threading.RLock()
        self._depth = 0  # changed only by the thread holding `_threads`
        self._fd: int | None = None
        self._pid = 0  # the process that opened `_fd` (a forked child opens its own)

    def __enter__(self) -> "SqliteWriterLock":
        self._threads.acquire()
        try:
            if self._depth == 0 and self._lock_file is not None:
                if self._fd is None or self._pid != os.getpid():
                    # a child shares its parent's open file, and so its lock: open anew
                    self._fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o644)
                    self._pid = os.getpid()
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # blocks until the other process is done
        except BaseException:
            self._threads.release()
            raise
        self._depth += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        """Close the lock file (the lock must not be held)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None
