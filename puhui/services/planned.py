"""Planned units of work bound to a platform: read and decide in a read transaction, write the
INSERTs afterwards in one short write transaction (the mechanism is the store's,
`puhui.store.planned`, where the why is written down).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

from sqlalchemy.orm import Session

from puhui.services.platform import _EVIDENCE, Platform
from puhui.store import planned as _store
from puhui.store.planned import Plan, UnplannableWrite, Writer, check_at_commit, write_at_commit

__all__ = ["Plan", "UnplannableWrite", "Writer", "check_at_commit", "planned",
           "write_at_commit"]


def planned(platform: Platform) -> AbstractContextManager[tuple[Session, Plan]]:
    """A read session on `platform` whose INSERTs are collected into the yielded `Plan` (write
    it with `platform.write_connection()` or `platform.unit()`).  Evidence kept with
    `keep_on_failure` is written in a unit of its own if the work fails, as an ordinary unit
    does."""

    def write_evidence(evidence: list[Callable[[Session], None]]) -> None:
        with platform.unit() as session:
            for write in evidence:
                write(session)
    return _store.planned(platform.read_engine or platform.engine, _EVIDENCE, write_evidence)
