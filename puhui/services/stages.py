"""Where a request's server time goes, stage by stage, for the operator who asks.

Why: an application's path crosses the data providers, payload validation, storage, features,
the models and policy and the write transaction; a benchmark that reports only the total cannot
say which stage bounds the throughput.  With PUHUI_SERVER_TIMING=1 each response carries a
standard `Server-Timing` header (W3C Server Timing) with every stage's wall time and the CPU
time of the request's thread in it (`desc="cpu ..."`); off by default, since timings tell a
client more about the server than it needs to know.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

#: Environment variable: "1" to time the stages of each request and answer them.
ENV = "PUHUI_SERVER_TIMING"
_CURRENT: ContextVar[dict[str, list[float]] | None] = ContextVar("puhui_stages", default=None)


def enabled() -> bool:
    return os.environ.get(ENV, "").strip() == "1"


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage `name` of the current request (nothing when not timing)."""
    timings = _CURRENT.get()
    if timings is None:
        yield
        return
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        spent = timings.setdefault(name, [0.0, 0.0])
        spent[0] += time.perf_counter() - wall
        spent[1] += time.thread_time() - cpu


@contextmanager
def timing() -> Iterator[dict[str, list[float]]]:
    """Collect the stages of everything run inside (a request), as name -> [wall s, cpu s]."""
    timings: dict[str, list[float]] = {}
    token = _CURRENT.set(timings)
    try:
        yield timings
    finally:
        _CURRENT.reset(token)


def server_timing(timings: dict[str, list[float]]) -> str:
    """The `Server-Timing` header value of `timings`, in milliseconds."""
    return ", ".join(f'{name};dur={wall * 1000:.3f};desc="cpu {cpu * 1000:.3f}"'
                     for name, (wall, cpu) in timings.items())


__all__ = ["ENV", "enabled", "server_timing", "stage", "timing"]
