"""Borrowers' monthly panels for a refresh, read from the summaries of their large sources.

Why beside `monitoring_data.load_data`: that one hands over every record merged so far, and the
panel is then reduced from thousands of them per business on every refresh (decompress, decode,
reduce: most of a re-evaluation's cost).  Here each large source (sales, logistics, bank
statement, app behaviour) is read as its base's summary (`puhui.risk.summaries`, a few kB kept
in `monitoring_summaries`) extended with the state's tail -- the deliveries since the base was
compacted -- and the panel columns are made from that.  The small sources (tax, utility, the
bureau's report) are read and reduced from their records.  Both are done a source at a time
over all the borrowers asked for (`summaries.panels_many`, `_reduce_many`: the same numbers as
one borrower at a time, with a number of NumPy calls that does not grow with the borrowers),
and the panels are assembled from the sources' `(borrowers, months)` blocks
(`risk.stacked.PanelBlocks`): per borrower, or as one frame for the refresh's features.

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

import numpy as np
import polars as pl

from puhui.errors import PuhuiError
from puhui.parties.consent import DataScope
from puhui.risk import summaries as sm
from puhui.risk._reduce import REDUCERS
from puhui.risk._reduce_many import MANY
from puhui.risk.data import merged_state as ms
from puhui.risk.data.payload import SOURCES
from puhui.risk.errors import PayloadTampered, RiskDataError
from puhui.risk.panel import ROWS, Column, month_index, panel_columns, panels_frame
from puhui.risk.stacked import PanelBlocks, Stacked, stack
from puhui.runtime import collector_paused
from puhui.services.monitoring_data import load_data, window_start
from puhui.store import monitoring_repo as repo

log = logging.getLogger("puhui.monitoring")

#: The sources read and reduced record by record (a few dozen records each).
_SMALL = tuple(s for s in SOURCES if s not in sm.SUMMARISED)
_SCOPES = {s.value: s for s in sm.SUMMARISED}
_NOTHING_SHA256 = hashlib.sha256(b"").hexdigest()
_SLOW = object()  # this (applicant, scope) needs the full path
_ABSENT = object()  # no payload of this scope within the window


@dataclass
class Panels:
    """Each borrower's panel on the day asked (borrowers with no data at all have none), the
    SHA-256 of the latest payload of each scope, the problems met, the summaries made on the
    way (rows for `monitoring_repo.save_summaries`) and how many scopes came from summaries
    and how many borrowers took the full path.  The panels are either per borrower
    (`panels`) or, for the refresh, one frame keyed by borrower (`frame`, `as_frame=True`)."""

    panels: dict[str, dict[str, Column]] = field(default_factory=dict)
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    summarised: int = 0
    full_path: int = 0
    frame: pl.DataFrame | None = None


def load_panels(session: Any, applicant_ids: Sequence[str], today: date, *,
                as_frame: bool = False) -> Panels:
    """The panels of these borrowers on `today` from their monitoring data (see the module
    doc); the session only reads.  `as_frame`: as one frame in `PANEL_SCHEMA` whose
    `business_id` is the borrower (what the refresh's features read), not per borrower."""
    with collector_paused():
        return _load_panels(session, applicant_ids, today, as_frame)


def _load_panels(session: Any, applicant_ids: Sequence[str], today: date,
                 as_frame: bool) -> Panels:
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
    # per summarised scope: (borrower, summary, (tail, its keys)) of those that have one
    grown: dict[DataScope, list[tuple[str, sm.Summary, Any]]] = defaultdict(list)
    owners: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        a = row.applicant_id
        if a in slow:
            continue
        scope = _SCOPES.get(row.scope) or DataScope(row.scope)
        try:
            found, made = _from_summary(row, kept[(a, row.scope)], bases.get((a, row.scope)),
                                        first, today)
        except (PayloadTampered, PuhuiError) as exc:
            log.info("the %s summary of %s not used: %s", scope.value, a, exc)
            found, made = _SLOW, None
        if made is not None:
            out.summaries.append(made)
        if found is _SLOW:
            slow.add(a)
        elif found is not _ABSENT:
            grown[scope].append((a, *found))
            owners[a].add(row.business_id)
            out.hashes[a][scope.value] = row.payload_sha256
    fast = [a for a in ids if a not in slow]
    data, hashes, problems = load_data(session, fast, today, save=False, only=_SMALL)
    for a in fast:
        owners[a].update(source.business_id for source in data[a].values())
        if len(owners[a]) > 1:  # the full path refuses it in its own words
            slow.add(a)
    # every source of the chunk reduced at once; a borrower any of them cannot do exactly
    # takes the full path
    parts: list[tuple[list[str], Stacked]] = []
    for scope, items in grown.items():
        items = [x for x in items if x[0] not in slow]
        if items:
            parts.append(([x[0] for x in items], sm.panels_many(
                scope, [x[1] for x in items], [x[2] for x in items], today, top)))
    for scope in _SMALL:
        mine = [a for a in fast if a not in slow and scope in data[a]]
        if mine:
            parts.append((mine, _reduced_many(scope, [data[a][scope] for a in mine], today,
                                              top)))
    for who, part in parts:
        slow.update(a for a, ok in zip(who, part.ok.tolist()) if not ok)
    done = [a for a in fast if a not in slow and (owners[a] or data[a])]
    place = {a: k for k, a in enumerate(done)}
    blocks = PanelBlocks.of(len(done), [
        (np.array([place.get(a, -1) for a in who], np.int64), part) for who, part in parts])
    for a in fast:
        if a not in slow:
            out.hashes[a].update(hashes[a])
            out.problems[a].extend(problems[a])
    out.summarised = sum(1 for who, part in parts if part.scope in sm.SUMMARISED
                         for a in who if a in place)
    again = [a for a in ids if a in slow]
    later: dict[str, dict[str, Column]] = {}
    if again:
        data, hashes, problems = load_data(session, again, today, save=False)
        for a in again:
            out.hashes[a], out.problems[a] = hashes[a], problems[a]
            if data[a]:
                later[a] = panel_columns(data[a], today)
        out.full_path += len(again)
    if as_frame:
        frames = [blocks.frame(done, today)]
        if later:
            frames.append(panels_frame([{**c, "business_id": (np.full(ROWS, a, dtype=object),
                                                              None)}
                                        for a, c in later.items()]))
        out.frame = pl.concat(frames) if len(frames) > 1 else frames[0]
    else:
        out.panels = {a: blocks.columns(k, next(iter(owners[a])), today)
                      for k, a in enumerate(done)}
        out.panels.update(later)
    return out


def _reduced_many(scope: DataScope, sources: list[Any], today: date, top: int) -> Stacked:
    """A small source's reductions of many borrowers: chunk-wide where `_reduce_many` has the
    source's form, else one at a time (a reducer's refusal marks the borrower not ok: the full
    path then refuses it in its own words)."""
    many = _MANY.get(scope)
    if many is not None:
        return many(sources, today, top)
    results = []
    for source in sources:
        try:
            results.append(REDUCERS[scope](source, today, top))
        except RiskDataError:
            results.append(None)
    return stack(scope, results, top)


#: The small sources' chunk-wide reducers, where there are (`risk._reduce_many`).
_MANY: dict[DataScope, Any] = dict(MANY)


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


def _from_summary(row: Any, summary: sm.Summary | None, base_row: Any, first: date, today: date
                  ) -> tuple[Any, dict[str, Any] | None]:
    """((the summary, (the tail's data, its keys)), `_ABSENT` or `_SLOW`; a summary made on
    the way)."""
    scope = _SCOPES.get(row.scope) or DataScope(row.scope)
    if row.covers_from is not None and first < row.covers_from:
        return _SLOW, None  # merged from later payloads than the window asks for
    if row.as_of < first:
        return _ABSENT, None  # no payload within the window
    if row.sha256 is None:
        return _SLOW, None  # the base is lost: rebuilt by the full path
    if row.tail and hashlib.sha256(row.tail).hexdigest() != row.tail_sha256:
        return _SLOW, None
    if not row.tail and row.tail_sha256 not in (None, _NOTHING_SHA256):
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
    return (summary, (ms.source_data(tail, row.business_id, today), tail.keys)), made


__all__ = ["Panels", "load_panels"]
