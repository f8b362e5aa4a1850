"""Identifiers: a prefix naming the kind, then time-ordered hex, so ids sort by creation and
list pagination can use the id itself as its cursor."""

from __future__ import annotations

import itertools
import secrets
import threading
import time

_lock = threading.Lock()
_last = [0]
_counter = itertools.count()


def new_id(prefix: str) -> str:
    """`prefix` + 12 hex of milliseconds + 4 hex of a per-process sequence + 6 random hex.

    Increasing within a process (a 16-bit sequence breaks ties inside a millisecond) and
    unique across processes by the random tail.  Example: ``AP019a2b3c4d5e0001f3a9c2``.
    """
    with _lock:
        ms = max(int(time.time() * 1000), _last[0])
        _last[0] = ms
        seq = next(_counter) & 0xFFFF
    return f"{prefix}{ms:012x}{seq:04x}{secrets.token_hex(3)}"
