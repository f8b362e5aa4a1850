"""Borrowers' monthly panels for a refresh, read from the summaries of their large sources.

Why beside `monitoring_data.load_data`: that one hands over every record merged so far, and the
panel is then reduced from thousands of them per business on every refresh (decompress, decode,
reduce: most of a re-evaluation's cost).  Here each large source (sales, logistics, bank
statement, app behaviour) is read as its base's summary (`puhui.risk.summaries`, a few kB kept
in `monitoring_summaries`) extended with the state's tail -- the deliveries since the base was
compacted, a few records each -- and the panel columns are made from that.  The small sources
(tax, utility, the bureau's report) are read and reduced as before.

The answer is the one `load_data` + `panel.panel_columns` give, column for column; wherever a
summary cannot know it (a delivery replacing a record it summarised, a state to rebuild, a
window cut it was not made for, an applicant met for the first time), that borrower takes the
full path.  A summary missing or made for another base or window is made from the base on the
way and handed back for the caller to keep (the refresh's workers only read).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from puhui.errors import PuhuiError
from puhui.parties.consent import DataScope
from puhui.risk import summaries as sm
from puhui.risk._reduce import REDUCERS
from puhui.risk.data import merged_state as ms
from puhui.risk.data.payload import SOURCES
from puhui.risk.errors import PayloadTampered
from puhui.risk.panel import Column, month_index, panel_columns, panel_from
from puhui.runtime import collector_paused
from puhui.services.monitoring_data import load_data, window_start
from puhui.store import monitoring_repo as repo

log = logging.getLogger("puhui.monitoring")

#: The sources read and reduced record by record (a few dozen records each).
_SMALL = tuple(s for s in SOURCES if s not in sm.SUMMARISED)
_SLOW = object()  # this (applicant, scope) needs the full path
_ABSENT = object()  # no payload of this scope within the window


@dataclass
class Panels:
    """Each borrower's panel on the day asked (borrowers with no data at all have none), the
    SHA-256 of the latest payload of each scope, the problems met, the summaries made on the
    way (rows for `monitoring_repo.save_summaries`) and how many scopes came from summaries
    and how many borrowers took the full path."""

    panels: dict[str, dict[str, Column]] = field(default_factory=dict)
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    summarised: int = 0
    full_path: int = 0


def load_panels(session: Any, applicant_ids: Sequence[str], today: date) -> Panels:
    """The panels of these borrowers on `today` from their monitoring data (see the module
    doc); the session only reads."""
    with collector_paused():
        return _load_panels(session, applicant_ids, today)


def _load_panels(session: Any, applicant_ids: Sequence[str], today: date) -> Panels:
    ids = list(dict.fromkeys(applicant_ids))
    first = window_start(today)
    top = month_index(today)
    out = Panels(hashes={a: {} for a in ids}, problems={a: [] for a in ids})
    rows = repo.states_with_summaries(session, ids, [s.value for s in sm.SUMMARISED])
    complete = repo.complete(session, ids)
    slow: set[str] = {a for a in ids if a not in complete}
    kept = {(r.applicant_id, r.scope): _kept_summary(r, first) for r in rows
            if r.applicant_id not in slow}
    bases = _bases(session, [k for k, v in kept.items() if v is None])
    reduced: dict[str, dict[DataScope, Any]] = defaultdict(dict)
    owners: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        a = row.applicant_id
        if a in slow:
            continue
        scope = DataScope(row.scope)
        try:
            found, made = _from_summary(row, kept[(a, row.scope)], bases.get((a, row.scope)),
                                        first, today, top)
        except (PayloadTampered, PuhuiError) as exc:
            log.info("the %s summary of %s not used: %s", scope.value, a, exc)
            found, made = _SLOW, None
        if made is not None:
            out.summaries.append(made)
        if found is _SLOW:
            slow.add(a)
        elif found is not _ABSENT:
            reduced[a][scope] = found
            owners[a].add(row.business_id)
            out.hashes[a][scope.value] = row.payload_sha256
    fast = [a for a in ids if a not in slow]
    data, hashes, problems = load_data(session, fast, today, save=False, only=_SMALL)
    for a in fast:
        owners[a].update(source.business_id for source in data[a].values())
        if len(owners[a]) > 1:  # the full path refuses it in its own words
            slow.add(a)
            continue
        out.hashes[a].update(hashes[a])
        out.problems[a].extend(problems[a])
        if not reduced[a] and not data[a]:
            continue
        mixed = dict(reduced[a])
        if data[a]:
            mixed.update({s: REDUCERS[s](source, today, top) for s, source in data[a].items()})
        out.panels[a] = panel_from(owners[a].pop(), today, mixed)
        out.summarised += len(reduced[a])
    again = [a for a in ids if a in slow]
    if again:
        data, hashes, problems = load_data(session, again, today, save=False)
        for a in again:
            out.hashes[a], out.problems[a] = hashes[a], problems[a]
            if data[a]:
                out.panels[a] = panel_columns(data[a], today)
        out.full_path += len(again)
    return out


def _kept_summary(row: Any, first: date) -> sm.Summary | None:
    """The state's stored summary if it is of its base and of this window (and of this
    version of the rules), else None."""
    if row.summary is None or row.summary_base != row.sha256 or row.summary_window != first:
        return None
    try:
        return sm.decode(row.summary)
    except PayloadTampered as exc:
        log.info("the %s summary of %s made again: %s", row.scope, row.applicant_id, exc)
        return None


def _bases(session: Any, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The stored bases (codec, sha256, blob) of these (applicant, scope) states, read in one
    go."""
    if not wanted:
        return {}
    wanted = set(wanted)
    found = repo.states(session, sorted({a for a, _ in wanted}), sorted({s for _, s in wanted}))
    return {(r.applicant_id, r.scope): r for r in found if (r.applicant_id, r.scope) in wanted}


def _from_summary(row: Any, summary: sm.Summary | None, base_row: Any, first: date, today: date,
                  top: int) -> tuple[Any, dict[str, Any] | None]:
    """(this scope's reduction on `today`, `_ABSENT` or `_SLOW`; a summary made on the way)."""
    scope = DataScope(row.scope)
    if row.covers_from is not None and first < row.covers_from:
        return _SLOW, None  # merged from later payloads than the window asks for
    if row.as_of < first:
        return _ABSENT, None  # no payload within the window
    if row.sha256 is None:
        return _SLOW, None  # the base is lost: rebuilt by the full path
    if row.tail and hashlib.sha256(row.tail).hexdigest() != row.tail_sha256:
        return _SLOW, None
    if not row.tail and row.tail_sha256 not in (None, hashlib.sha256(b"").hexdigest()):
        return _SLOW, None
    if row.first_as_of < first and not row.in_order:
        return _SLOW, None  # the window cannot be cut from the merge
    made = None
    if summary is None:
        if base_row is None or base_row.blob is None or base_row.sha256 != row.sha256:
            return _SLOW, None
        if hashlib.sha256(base_row.blob).hexdigest() != row.sha256:
            return _SLOW, None
        base = ms.since(ms.unpack_base(scope, base_row.codec, base_row.blob), first)
        if base is None:
            return _SLOW, None
        summary = sm.summarise(ms.source_data(base, row.business_id, today), base.keys)
        if summary is None:
            return _SLOW, None
        made = {"applicant_id": row.applicant_id, "scope": row.scope,
                "base_sha256": row.sha256, "window_from": first, "blob": sm.encode(summary)}
    tail = ms.merge(ms.empty(scope), ms.tail_segments(scope, row.tail))
    if tail.count and int(tail.seen.min()) < first.toordinal():
        return _SLOW, made  # a delivery the window cuts away
    grown = sm.extended(summary, ms.source_data(tail, row.business_id, today), tail.keys)
    if grown is None:
        return _SLOW, made
    found = sm.panel_of(grown, today, top)
    return (_SLOW if found is None else found), made


__all__ = ["Panels", "load_panels"]
