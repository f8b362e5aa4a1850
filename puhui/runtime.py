"""What the interpreter is asked to do differently around bulk work.

Why a module of its own: the store's bulk writes, the merging of monitoring data and the
repayment record of a book of lines all make hundreds of thousands of small objects, none of
them cyclic garbage; each layer needs the same switch, and none should reach into another's
internals for it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Hold Python's cyclic garbage collector off for the block (restored as it was after;
    nested blocks leave it to the outermost).

    Bulk work keeps many small objects alive until it ends, so the collector would run again
    and again and find nothing to free: measured, about a tenth of a bulk append.  Reference
    counting still frees as usual."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


__all__ = ["collector_paused"]
