"""Several API server processes on one port, each accepting its own share of the connections.

uvicorn's multi-worker mode shares one listening socket among its workers, and whichever worker
is awake when connections arrive accepts every one that is waiting: a partner that opens its pool
of keep-alive connections at once lands all of them on one worker while the others idle
(measured on two workers: 7 s of CPU on one, 1 s on the other over the same run, at less than
half the applications per second).  Here each worker binds a socket of its own to the port with
SO_REUSEPORT, and Linux spreads new connections across those sockets.

The supervisor restarts a worker that dies, gives up when one dies straight after starting (the
port taken, the database unreachable: restarting would only repeat it), and stops them all on
SIGINT or SIGTERM.  Where the kernel does not spread connections this way (outside Linux),
uvicorn's own shared-socket mode runs instead.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from puhui.api.workers import FACTORY

#: A worker that dies sooner than this after starting is failing to start, not crashing.
START_GRACE_S = 10.0
#: How long stopping workers get to finish the requests they hold.
STOP_GRACE_S = 30.0

log = logging.getLogger("puhui.api")


class WorkerFailedToStart(RuntimeError):
    """A worker process exited right after starting; the exit code says how."""


def balances_connections() -> bool:
    """Whether each worker can have its own socket on the port with the kernel spreading
    connections across them (Linux's SO_REUSEPORT; other systems' gives the port to one)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that other processes may bind too (SO_REUSEPORT)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _check_free(host: str, port: int) -> None:
    """OSError now if anything listens on the port, even another server sharing it by
    SO_REUSEPORT: the workers would otherwise join it and split its traffic with it."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # but not SO_REUSEPORT
        probe.bind((host, port))


def _worker(host: str, port: int, log_level: str) -> None:
    """One worker: its own socket, the app built from the environment (see `workers`)."""
    import uvicorn

    sock = listening_socket(host, port)
    config = uvicorn.Config(FACTORY, factory=True, log_level=log_level)
    uvicorn.Server(config).run(sockets=[sock])


def serve(workers: int, host: str, port: int, log_level: str = "warning") -> None:
    """Serve the API from `workers` processes until SIGINT or SIGTERM (see the module's doc).

    Raises OSError at once when the port cannot be bound, and `WorkerFailedToStart` when a
    worker exits during its first `START_GRACE_S` seconds.
    """
    if port == 0:
        raise ValueError("several workers need a port number to share, not 0 (any free port)")
    if not balances_connections():
        import uvicorn

        uvicorn.run(FACTORY, factory=True, workers=workers, host=host, port=port,
                    log_level=log_level)
        return
    _check_free(host, port)
    context = multiprocessing.get_context("spawn")
    stopping: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    running: dict[int, tuple[BaseProcess, float]] = {}

    def start(slot: int) -> None:
        process = context.Process(target=_worker, args=(host, port, log_level),
                                  name=f"puhui-worker-{slot}", daemon=False)
        process.start()
        running[slot] = (process, time.monotonic())

    try:
        for slot in range(workers):
            start(slot)
        while not stopping:
            wait([p.sentinel for p, _ in running.values()], timeout=0.5)
            for slot, (process, started) in list(running.items()):
                if process.is_alive() or stopping:
                    continue
                if time.monotonic() - started < START_GRACE_S:
                    raise WorkerFailedToStart(
                        f"worker {slot} exited with code {process.exitcode} while starting; "
                        f"its output above says why")
                log.warning("worker %s exited with code %s; starting another", slot,
                            process.exitcode)
                start(slot)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _stop_all([p for p, _ in running.values()])


def _stop_all(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes the requests in hand, then exits
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
