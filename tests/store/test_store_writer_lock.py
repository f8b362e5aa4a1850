"""SQLite writers of several processes queue on one lock file instead of sleeping in SQLite."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from puhui.store.writer_lock import SUFFIX, SqliteWriterLock

PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("held")
"""

WAITER = """
import sys, time
from puhui.store.writer_lock import SqliteWriterLock
with SqliteWriterLock(sys.argv[1]):
    print(time.time())
"""


def held_elsewhere(lock_file: Path) -> bool:
    """Whether another process finds the lock file locked."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(lock_file)], capture_output=True,
                         text=True, check=True).stdout.strip()
    return out == "held"


def test_the_lock_is_held_between_processes_until_the_outermost_release(tmp_path: Path) -> None:
    database = str(tmp_path / "db.sqlite")
    lock = SqliteWriterLock(database)
    try:
        assert not held_elsewhere(Path(database + SUFFIX))
        with lock:
            with lock:  # re-entered by the same thread (a nested unit of work)
                assert held_elsewhere(Path(database + SUFFIX))
            assert held_elsewhere(Path(database + SUFFIX))
        assert not held_elsewhere(Path(database + SUFFIX))
    finally:
        lock.close()


def test_a_waiting_process_goes_on_as_soon_as_the_lock_is_released(tmp_path: Path) -> None:
    database = str(tmp_path / "db.sqlite")
    lock = SqliteWriterLock(database)
    try:
        with lock:
            waiter = subprocess.Popen([sys.executable, "-c", WAITER, database],
                                      stdout=subprocess.PIPE, text=True)
            time.sleep(1.0)  # long enough for the waiter to start and block
            released = time.time()
        started = float(waiter.communicate(timeout=30)[0])
        assert released <= started < released + 5
    finally:
        lock.close()


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    for path in (str(tmp_path / "db.sqlite"), None):  # a file, and an in-memory database
        lock = SqliteWriterLock(path)
        inside, overlaps = [0], []

        def writer() -> None:
            for _ in range(50):
                with lock:
                    inside[0] += 1
                    time.sleep(0.0002)  # invite the other threads in
                    overlaps.append(inside[0])
                    inside[0] -= 1

        threads = [threading.Thread(target=writer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lock.close()
        assert set(overlaps) == {1}
