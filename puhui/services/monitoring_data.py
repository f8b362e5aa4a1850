"""Monitoring data kept merged as it arrives, and read back fast: `accept` (one payload),
`ingest_feeds` (the sources' change feeds, a page of businesses per transaction) and
`load_sources` (many applicants' data known today).

Why: a line re-evaluation reads, per scope, every payload the applicant's sources ever sent,
merged by natural key (`lines.signals.merge_payloads`) and validated.  Redone from the stored
payloads on every re-evaluation that is ~5 ms a business; kept merged as each payload arrives
(`puhui.risk.data.merged_state`: typed columns, a compacted base and a tail of the deltas since)
it reads back in a fraction of a millisecond, without validating again: every record in it was
validated when it arrived.

The payloads stay the record of truth, stored exactly as before (packed, with their SHA-256 and
consent; an answer identical to the latest of its scope stores nothing).  A state is derived
from them and rebuilt from them whenever it is missing (payloads stored before this table, or by
an application's data collection, which drops the states it makes stale), fails its SHA-256
(logged), or cannot be cut to the features' window from what it holds.

`load_sources(session, ids, today)[a]` is exactly `applicant_data(session, a, today)[0]` as it
was computed from the payloads: every accepted payload describing a day from the window's first
(`HISTORY_MONTHS + 1` months before today's month) merged per scope, `as_of` raised to today.
A state knows the first and latest `as_of` it merged, whether its payloads came in date order,
and for each record the `as_of` of the payload that last carried it: payloads in date order
leave the window oldest first, so dropping the records last carried by a payload before the
window is the merge of the payloads within it.  Payloads merged out of date order are merged
again from the window's payloads once one of them leaves it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import orjson
from sqlalchemy.orm import Session

from puhui.errors import PuhuiError
from puhui.parties.consent import Consent, DataScope, Purpose
from puhui.risk.data import merged_state as ms
from puhui.risk.data.feeds import ChangeFeed, FeedPage
from puhui.risk.data.payload import SOURCES, SourceData, parse_payload
from puhui.risk.data.resilience import (CircuitBreaker, SourcePolicy, SourceSettings,
                                        guarded_call)
from puhui.risk.errors import InvalidRecord, PayloadTampered, SourceFailed, SourceUnavailable
from puhui.risk.panel import HISTORY_MONTHS, add_months
from puhui.runtime import collector_paused
from puhui.services.applicants import identity_of
from puhui.services.data import payload_values, received_bytes
from puhui.services.platform import Platform
from puhui.store import line_decision_repo
from puhui.store import monitoring_repo as repo

log = logging.getLogger("puhui.monitoring")

_PURPOSE = Purpose.POST_LOAN_MONITORING
#: A tail longer than this is compacted into the base.
_TAIL_BYTES = 64 * 1024




def window_start(today: date) -> date:
    """The first day a payload may describe to count on `today` (older ones hold nothing the
    features read): the first of the month `HISTORY_MONTHS + 1` months before today's."""
    return add_months(today.replace(day=1), -(HISTORY_MONTHS + 1))


# -- one delivery and one state in memory ----------------------------------------------------------
@dataclass
class _Delivery:
    applicant_id: str
    scope: DataScope
    consent_id: str
    received: bytes
    parsed: SourceData
    records: list
    trusted: Any
    sha: str


@dataclass
class _State:
    """A state's head as stored or being built, and what is to be added to it."""

    applicant_id: str
    scope: DataScope
    business_id: str = ""
    as_of: date | None = None
    first_as_of: date | None = None
    in_order: bool = True
    covers_from: date | None = None
    records: int = 0
    payloads: int = 0
    payload_sha256: str = ""
    tail: bytes | None = None
    tail_sha256: str | None = None
    base: ms.Segment | None = None     # set when built here (a whole row is then written)
    stored: bool = False               # a row exists (its base is in the database)
    pending: list[ms.Segment] = field(default_factory=list)
    pending_tail: list[bytes] = field(default_factory=list)
    broken: bool = False               # its tail failed its checksum: rebuild
    held: int | None = None            # deliveries in the stored tail, once counted

    @classmethod
    def of_row(cls, row: Any) -> "_State":
        st = cls(row.applicant_id, DataScope(row.scope), row.business_id, row.as_of,
                 row.first_as_of, row.in_order, row.covers_from, row.records, row.payloads,
                 row.payload_sha256, row.tail, row.tail_sha256, stored=True)
        if (row.tail or b"") and hashlib.sha256(row.tail).hexdigest() != row.tail_sha256:
            st.broken = True
        elif not row.tail and row.tail_sha256 not in (None, hashlib.sha256(b"").hexdigest()):
            st.broken = True
        return st

    def add(self, segment: ms.Segment, business_id: str, as_of: date, count: int,
            sha: str) -> None:
        if self.payloads == 0 or self.as_of is None or self.first_as_of is None:
            self.as_of = self.first_as_of = as_of
            self.business_id, self.in_order = business_id, True
        else:
            if as_of < self.as_of:
                self.in_order = False
            elif as_of > self.as_of:
                self.as_of, self.business_id = as_of, business_id
            self.first_as_of = min(self.first_as_of, as_of)
        self.pending.append(segment)
        self.records += count
        self.payloads += 1
        self.payload_sha256 = sha

    def tail_too_long(self) -> bool:
        """Whether the tail, with what is pending, is due to be compacted into the base."""
        try:
            if self.held is None:
                self.held = ms.tail_deliveries(self.tail)
        except PayloadTampered:
            return True  # compacted: the base and tail are read again (or rebuilt)
        return (len(self.pending) + self.held > ms.TAIL_SEGMENTS
                or sum(s.count for s in self.pending) > ms.TAIL_RECORDS
                or len(self.tail or b"") > _TAIL_BYTES)

    def head(self, now: datetime) -> dict[str, Any]:
        return {"applicant_id": self.applicant_id, "scope": self.scope.value,
                "business_id": self.business_id, "as_of": self.as_of,
                "first_as_of": self.first_as_of, "in_order": self.in_order,
                "covers_from": self.covers_from, "records": self.records, "payloads": self.payloads,
                "payload_sha256": self.payload_sha256, "updated_at": now}


# -- building states from the payloads -------------------------------------------------------------
def _merged_from_payloads(scope: DataScope, rows: Sequence[Any]) -> tuple[_State, ms.Segment]:
    """A state (its head and base) merging these payload rows (oldest first), as
    `merge_payloads` merges them; `InvalidRecord` if the merge does not validate,
    `PayloadTampered` if a payload no longer matches its hash."""
    st = _State(rows[0].applicant_id, scope)
    payloads = [orjson.loads(received_bytes(r)) for r in rows]
    for row, payload in zip(rows, payloads):
        day = row.as_of
        st.add(ms.Segment(scope), str(payload.get("business_id")), day, 0, row.payload_sha256)
    st.pending.clear()
    latest = max(payloads, key=lambda p: str(p.get("as_of", "")))
    if scope not in ms.RECORD_KEYS:
        last = payloads[-1]
        data = parse_payload(scope, last)  # the bureau's report: the latest payload alone
        st.records = data.record_count
        return st, ms.Segment(scope, raw=orjson.dumps(last, option=orjson.OPT_SORT_KEYS))
    fields = ms.RECORD_KEYS[scope]
    merged: dict[tuple, tuple[Any, int, int]] = {}
    for row, payload in zip(rows, payloads):
        day = row.as_of.toordinal()
        for record in payload.get("records", []):
            key = tuple(str(record.get(f)) for f in fields)
            was = merged.get(key)
            merged[key] = (record, day, day if was is None else was[2])
    records = [r for r, _, _ in merged.values()]
    data = parse_payload(scope, {"business_id": latest["business_id"],
                                 "as_of": latest["as_of"], "records": records})
    segment = ms.segment_of(data, records)
    segment.seen[:] = [d for _, d, _ in merged.values()]
    segment.first[:] = [d for _, _, d in merged.values()]
    st.records = segment.count
    return st, segment


def _build(session: Session, wanted: set[tuple[str, DataScope]], since: date | None = None
           ) -> tuple[dict[tuple[str, DataScope], tuple[_State, ms.Segment]], dict[str, str]]:
    """States built from the stored payloads of these (applicant, scope) pairs (those with
    payloads), and the problems met ("<applicant>:<scope>" -> why)."""
    if not wanted:
        return {}, {}
    rows = repo.payloads_of(session, sorted({a for a, _ in wanted}),
                            sorted({s.value for _, s in wanted}), since)
    grouped: dict[tuple[str, DataScope], list[Any]] = defaultdict(list)
    for row in rows:
        key = (row.applicant_id, DataScope(row.scope))
        if key in wanted:
            grouped[key].append(row)
    out, problems = {}, {}
    for key, its in grouped.items():
        try:
            st, base = out[key] = _merged_from_payloads(key[1], its)
            st.covers_from = since
        except (InvalidRecord, PayloadTampered) as exc:
            problems[f"{key[0]}:{key[1].value}"] = str(exc)
    return out, problems


def _full_row(st: _State, base: ms.Segment, now: datetime) -> dict[str, Any]:
    base = ms.merge(base, st.pending)
    st.records = 1 if base.raw is not None else base.count
    blob = ms.pack_base(base)
    return {**st.head(now), "codec": ms.BASE_CODEC, "sha256": hashlib.sha256(blob).hexdigest(),
            "blob": blob, "tail": None, "tail_sha256": None}


def _base_of(row: Any) -> ms.Segment:
    """A stored state's base and tail merged (`PayloadTampered` if either fails its hash)."""
    scope = DataScope(row.scope)
    if row.blob is None:
        raise PayloadTampered(f"the {scope.value} state of {row.applicant_id} has lost its base")
    if hashlib.sha256(row.blob).hexdigest() != row.sha256:
        raise PayloadTampered(f"the {scope.value} state of {row.applicant_id} does not match "
                              f"its sha256")
    if row.tail and hashlib.sha256(row.tail).hexdigest() != row.tail_sha256:
        raise PayloadTampered(f"the {scope.value} state's tail of {row.applicant_id} does not "
                              f"match its sha256")
    return ms.load(scope, row.codec, row.blob, row.tail)


# -- taking payloads in ------------------------------------------------------------------------------
def _take_in(p: Platform, session: Session, deliveries: Sequence[_Delivery]) -> list[bool]:
    """Store each delivery's payload row (unless it is the latest of its scope already) and
    merge it into its state; whether each was stored."""
    now = p.clock.now()
    keys = {(d.applicant_id, d.scope) for d in deliveries}
    if not keys:
        return []
    applicants = sorted({a for a, _ in keys})
    rows = repo.states(session, applicants, sorted({s.value for _, s in keys}), base=False,
                       lock=True)
    states = {(r.applicant_id, DataScope(r.scope)): _State.of_row(r) for r in rows}
    states = {k: v for k, v in states.items() if k in keys}
    # an applicant met for the first time gets the states of all its scopes with payloads
    # (and its mark), so that reading it later never has to build any
    incomplete = sorted(set(applicants) - repo.complete(session, applicants))
    others: set[tuple[str, DataScope]] = set()
    if incomplete:
        held = {(r.applicant_id, DataScope(r.scope))
                for r in repo.states(session, incomplete, [s.value for s in SOURCES], base=False)}
        others = {(a, s) for a in incomplete for s in SOURCES} - held - keys
    built, problems = _build(session, (keys - states.keys()) | others)
    bases: dict[tuple[str, DataScope], ms.Segment] = {}
    extra: list[dict[str, Any]] = []
    for key, (st, base) in built.items():
        if key in keys:
            states[key], bases[key] = st, base
        else:
            extra.append(_full_row(st, base, now))
    if incomplete:
        repo.save_states(session, extra)
        broken = {k.split(":", 1)[0] for k in problems}
        repo.mark_complete(session, [a for a in incomplete if a not in broken], now)
    stored: list[bool] = []
    payload_rows: list[tuple] = []
    for d in deliveries:
        key = (d.applicant_id, d.scope)
        st = states.get(key)
        if st is not None and st.payload_sha256 == d.sha:
            stored.append(False)  # the answer we hold already: validated when it was stored
            continue
        if st is None:
            st = states[key] = _State(d.applicant_id, d.scope)
            bases[key] = ms.empty(d.scope)
        values = payload_values(d.received, parsed=d.trusted)
        payload_rows.append((d.applicant_id, None, d.scope.value, d.consent_id, now,
                             d.parsed.as_of, "accepted", None, None, values["payload_sha256"],
                             values["payload_codec"], values["payload_blob"],
                             values["payload_bytes"]))
        segment = ms.segment_of(d.parsed, d.records, d.received)
        st.add(segment, d.parsed.business_id, d.parsed.as_of,
               1 if segment.raw is not None else segment.count, d.sha)
        stored.append(True)
    if payload_rows:
        repo.add_payloads(session, payload_rows)
    _write_states(session, [s for key, s in states.items() if s.pending or key in bases],
                  bases, now)  # a state built here is saved even if nothing new came
    return stored


def _write_states(session: Session, touched: Sequence[_State],
                  bases: Mapping[tuple[str, DataScope], ms.Segment], now: datetime) -> None:
    whole: list[dict[str, Any]] = []
    tails: list[dict[str, Any]] = []
    compact: list[_State] = []
    for st in touched:
        key = (st.applicant_id, st.scope)
        if key in bases:
            whole.append(_full_row(st, bases[key], now))
        elif st.broken or st.tail_too_long():
            compact.append(st)
        else:
            try:
                tail = ms.merged_tail(st.scope, st.tail, st.pending, st.held)
            except PayloadTampered:  # a tail that does not decode: compacted (or rebuilt)
                st.broken = True
                compact.append(st)
                continue
            tails.append({**st.head(now), "tail": tail,
                          "tail_sha256": hashlib.sha256(tail).hexdigest()})
    if compact:
        wanted = {(s.applicant_id, s.scope) for s in compact}
        rows = {(r.applicant_id, DataScope(r.scope)): r for r in repo.states(
            session, sorted({a for a, _ in wanted}), sorted({s.value for _, s in wanted}))}
        rebuild: list[_State] = []
        for st in compact:
            row = rows[(st.applicant_id, st.scope)]
            try:
                if st.broken:
                    raise PayloadTampered("tail")
                whole.append(_full_row(st, _base_of(row), now))
            except PayloadTampered:
                log.warning("the %s state of %s fails its checksum: rebuilt from its payloads",
                            st.scope.value, st.applicant_id)
                rebuild.append(st)
        if rebuild:  # the payloads just stored are among those read back
            session.flush()
            built, problems = _build(session, {(s.applicant_id, s.scope) for s in rebuild})
            for key, (st, base) in built.items():
                whole.append(_full_row(st, base, now))
            if problems:
                repo.drop_states(session, sorted({k.split(":")[0] for k in problems}))
    repo.save_tails(session, tails)
    repo.save_states(session, whole)


def accept(p: Platform, session: Session, applicant_id: str, scope: DataScope,
           consent: Consent, received: bytes, parsed: SourceData, *, payload: Any = None,
           trusted: Any = None) -> bool:
    """Store an accepted monitoring payload (as received, packed, beside its consent) and merge
    it into the applicant's state of its scope; False, and nothing stored, when it is the same
    as the latest payload of its scope.  The caller has checked the consent, validated the
    payload (`parsed`) and that it is about the applicant's business and not dated after today.
    `payload`: the JSON value of `received` if the caller has it; `trusted`: a parse of
    `received` the packing may trust (`services.data.payload_values`)."""
    if payload is None:
        payload = trusted if trusted is not None else orjson.loads(received)
    records = payload.get("records", []) if isinstance(payload, Mapping) else []
    delivery = _Delivery(applicant_id, scope, consent.consent_id, received, parsed,
                         records, trusted, hashlib.sha256(received).hexdigest())
    return _take_in(p, session, [delivery])[0]


# -- reading -----------------------------------------------------------------------------------------
def _load_data(session: Session, applicant_ids: Sequence[str], today: date, *, save: bool = True,
               only: Sequence[DataScope] | None = None
               ) -> tuple[dict[str, dict[DataScope, SourceData]], dict[str, dict[str, str]],
                          dict[str, list[str]]]:
    """Per applicant: its data (`load_sources`), the SHA-256 of the latest payload of each
    scope within the window, and the problems met (payloads that do not merge into valid data).
    `only`: these scopes alone (the others left out of the answer)."""
    first = window_start(today)
    ids = list(dict.fromkeys(applicant_ids))
    sources = SOURCES if only is None else tuple(s for s in SOURCES if s in only)
    scopes = [s.value for s in sources]
    data: dict[str, dict[DataScope, SourceData]] = {a: {} for a in ids}
    hashes: dict[str, dict[str, str]] = {a: {} for a in ids}
    problems: dict[str, list[str]] = {a: [] for a in ids}
    rows = {(r.applicant_id, DataScope(r.scope)): r for r in repo.states(session, ids, scopes)}
    complete = repo.complete(session, ids)
    wanted: set[tuple[str, DataScope]] = set()
    bad: set[tuple[str, DataScope]] = set()
    for a in ids:
        if a not in complete:
            wanted |= {(a, s) for s in sources if (a, s) not in rows}
    segments: dict[tuple[str, DataScope], tuple[Any, ms.Segment]] = {}
    for key, row in rows.items():
        try:
            segments[key] = (row, _base_of(row))
        except PayloadTampered as exc:
            log.warning("%s: rebuilt from its payloads", exc)
            bad.add(key)
    now = datetime.now(timezone.utc)
    saved: list[dict[str, Any]] = []
    if wanted or bad:
        built, failed = _build(session, wanted | bad)
        for key, (st, base) in built.items():
            saved.append(_full_row(st, base, now))
            segments[key] = (st, base)
        for key, why in failed.items():
            a, s = key.split(":", 1)
            problems[a].append(f"{s}: {why}")
        if save:
            _save_built(session, saved, ids, failed)
    slow: set[tuple[str, DataScope]] = set()
    for (a, scope), (head, segment) in segments.items():
        if head.covers_from is not None and first < head.covers_from:
            slow.add((a, scope))  # merged from later payloads than the window asks for
            continue
        if head.as_of < first:
            continue  # no payload within the window
        if head.first_as_of < first:
            cut = ms.since(segment, first) if head.in_order else None
            if cut is None:
                slow.add((a, scope))
                continue
            segment = cut
        data[a][scope] = ms.source_data(segment, head.business_id, max(head.as_of, today))
        hashes[a][scope.value] = head.payload_sha256
    if slow:  # merged again from the window's payloads, and kept so (the window moves on)
        built, failed = _build(session, slow, since=first)
        windowed = []
        for (a, scope), (st, base) in built.items():
            data[a][scope] = ms.source_data(base, st.business_id, max(st.as_of, today))
            hashes[a][scope.value] = st.payload_sha256
            windowed.append(_full_row(st, base, now))  # exact from `first` on
        for key, why in failed.items():
            a, s = key.split(":", 1)
            problems[a].append(f"{s}: {why}")
        if save and windowed:
            _save_built(session, windowed, [], {})
    for a in ids:
        data[a] = {s: data[a][s] for s in sources if s in data[a]}
    return data, hashes, problems


def load_data(session: Session, applicant_ids: Sequence[str], today: date, *, save: bool = True,
              only: Sequence[DataScope] | None = None
              ) -> tuple[dict[str, dict[DataScope, SourceData]], dict[str, dict[str, str]],
                         dict[str, list[str]]]:
    """Per applicant: its data (`load_sources`), the SHA-256 of the latest payload of each
    scope within the window, and the problems met (payloads that do not merge into valid data).
    `save`: keep the states built on the way (when the session can write); `only`: these
    scopes alone."""
    with collector_paused():  # millions of small objects made, none of them cyclic garbage
        return _load_data(session, applicant_ids, today, save=save, only=only)


def _save_built(session: Session, rows: list[dict[str, Any]], ids: Sequence[str],
                failed: Mapping[str, str]) -> None:
    """Save states built on reading, and mark complete the applicants all of whose states now
    stand; on a session that cannot write (a read-only one), nothing is saved."""
    broken = {k.split(":", 1)[0] for k in failed}
    try:
        with session.begin_nested():
            repo.save_states(session, rows)
            repo.mark_complete(session, [a for a in ids if a not in broken],
                               datetime.now(timezone.utc))
    except PuhuiError as exc:
        log.info("monitoring states built on reading not saved: %s", exc)
    except Exception as exc:  # noqa: BLE001 - a read-only database refuses in its own words
        log.info("monitoring states built on reading not saved: %s: %s",
                 type(exc).__name__, exc)


def load_sources(session: Session, applicant_ids: Sequence[str], today: date
                 ) -> dict[str, dict[DataScope, SourceData]]:
    """Each applicant's data known today, per scope: every accepted payload describing a day
    from `window_start(today)` on, merged per scope, `as_of` raised to today (see the module
    doc), read from the merged states; states missing or failing their SHA-256 are built from
    the payloads and saved (when the session can write).  A scope whose payloads do not merge
    into valid data is left out (`applicant_data` reports it)."""
    return load_data(session, applicant_ids, today)[0]


# -- change feeds ------------------------------------------------------------------------------------
@dataclass
class FeedRun:
    """What `ingest_feeds` did: the applicants whose data changed (sorted), the pages read, the
    payloads stored, the deltas identical to the latest held, the businesses nobody monitors,
    the deltas refused ("<business_id>:<scope>" -> why), the feeds that failed (scope -> why)
    and the seconds spent per stage."""

    changed: list[str] = field(default_factory=list)
    pages: int = 0
    payloads_stored: int = 0
    unchanged: int = 0
    skipped: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def _time(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now


def _monitoring(p: Platform, session: Session, scopes: Sequence[DataScope]
                ) -> dict[DataScope, dict[str, tuple[str, Consent]]]:
    """scope -> business identity -> (applicant, the consent covering it): every applicant
    with a `post_loan_monitoring` consent in force for the scope (read once, in bulk)."""
    now = p.clock.now()
    held: dict[str, list[Consent]] = defaultdict(list)
    for applicant_id, text in line_decision_repo.consents_in_force(session, now):
        consent = Consent.from_dict(json.loads(text))
        if consent.purpose is _PURPOSE:
            held[applicant_id].append(consent)
    out: dict[DataScope, dict[str, tuple[str, Consent]]] = {s: {} for s in scopes}
    if not held:
        return out
    identities: dict[str, str] = {}
    for row in repo.applicant_rows(session, sorted(held)):
        try:
            identities[row.applicant_id] = identity_of(session, row)
        except PuhuiError as exc:  # erased: nothing of it may be used
            log.info("applicant %s not monitored: %s", row.applicant_id, exc)
    for applicant_id, business in sorted(identities.items()):
        active = held[applicant_id]  # in force at `now`: the store's query says so
        for scope in scopes:
            # the consent `require_consent` would pick: the longest lasting, then the first id
            covering = sorted((c for c in active if scope in c.scopes),
                              key=lambda c: (-c.expires_at.timestamp(), c.consent_id))
            if covering:
                out[scope].setdefault(business, (applicant_id, covering[0]))
    return out


class _Watched:
    """Who a page's businesses are, resolved page by page: the applicants already holding a
    merged state of a business's data (its identity is stored beside the state) with a
    monitoring consent in force, read for the page's businesses alone; a business no state
    names (monitored since the last delivery) sends this run to read every consent in force
    and every monitored applicant's identity once (`_monitoring`).  Why: opening every
    monitored applicant's sealed record each run would cost half a minute for 200,000 of
    them, every 15 minutes, even when no source has news."""

    def __init__(self, p: Platform, scopes: Sequence[DataScope]) -> None:
        self.p, self.scopes = p, list(scopes)
        self._everyone: dict[DataScope, dict[str, tuple[str, Consent]]] | None = None
        self._parsed: dict[str, Consent] = {}  # a consent's stored text -> the consent

    def _consent(self, text: str) -> Consent:
        """The consent stored as `text`, parsed once per run (each feed's pages name the same
        businesses, so the same consents)."""
        consent = self._parsed.get(text)
        if consent is None:
            if len(self._parsed) >= 1_000_000:
                self._parsed.clear()
            consent = self._parsed[text] = Consent.from_dict(json.loads(text))
        return consent

    def of_page(self, session: Session, scope: DataScope, businesses: Sequence[str]
                ) -> dict[str, tuple[str, Consent]]:
        """business identity -> (applicant, the consent covering `scope`) for these."""
        wanted = sorted(set(businesses))
        holders = repo.holders_of(session, wanted)
        out: dict[str, tuple[str, Consent]] = {}
        if holders:
            applicants = sorted({a for names in holders.values() for a in names})
            erased = {row.applicant_id for row in repo.applicant_rows(session, applicants)
                      if row.erased_at is not None}
            now = self.p.clock.now()
            held: dict[str, list[Consent]] = defaultdict(list)
            for applicant_id, text in line_decision_repo.consents_in_force_of(
                    session, applicants, now):
                consent = self._consent(text)
                if consent.purpose is _PURPOSE and scope in consent.scopes:
                    held[applicant_id].append(consent)
            for business in wanted:
                for applicant_id in holders.get(business, ()):
                    if applicant_id in erased or not held[applicant_id]:
                        continue
                    # the consent `require_consent` would pick: the longest lasting, then the
                    # first id (as `_monitoring` picks)
                    out[business] = (applicant_id, sorted(
                        held[applicant_id],
                        key=lambda c: (-c.expires_at.timestamp(), c.consent_id))[0])
                    break
        unknown = [b for b in wanted if b not in holders]
        if unknown:
            if self._everyone is None:
                self._everyone = _monitoring(self.p, session, self.scopes)
            everyone = self._everyone[scope]
            out.update({b: everyone[b] for b in unknown if b in everyone})
        return out


def monitored_businesses(p: Platform) -> set[str]:
    """The business identities a `post_loan_monitoring` consent in force covers (for any data
    scope): the businesses a change feed is asked about."""
    with p.read() as session, collector_paused():
        watched = _monitoring(p, session, list(SOURCES))
    return {business for by in watched.values() for business in by}


_FEED_BREAKERS: "weakref.WeakKeyDictionary[Any, CircuitBreaker]" = weakref.WeakKeyDictionary()


def _breaker_of(feed: Any, policy: SourcePolicy) -> CircuitBreaker:
    """The feed's circuit breaker, kept for the life of the feed object (so across runs)."""
    try:
        found = _FEED_BREAKERS.get(feed)
        if found is None:
            found = _FEED_BREAKERS[feed] = CircuitBreaker(policy.breaker_failures,
                                                          policy.breaker_cooldown)
        return found
    except TypeError:  # an object that cannot be weakly referenced: a breaker of this run
        return CircuitBreaker(policy.breaker_failures, policy.breaker_cooldown)


def ingest_feeds(p: Platform, feeds: Mapping[DataScope, ChangeFeed], today: date, *,
                 page_size: int = 2000, settings: SourceSettings | None = None,
                 sleep: Callable[[float], Any] = time.sleep) -> FeedRun:
    """Take in what each change feed delivered since its cursor, a page per transaction: the
    deltas of businesses monitored under a consent in force (the use logged), validated, stored
    as payloads (an unchanged one stores nothing) and merged into their states, with the
    feed's new cursor.  A delta that fails validation, is about another business or is dated
    after today is refused and reported, the page's others go on; a business nobody monitors
    is skipped.  Each page is asked as the sources are (`settings`, default from the
    environment's `PUHUI_SOURCE_*`): a transient failure retried with backoff, a circuit
    breaker per feed that stops asking a feed that keeps failing.  A feed that still fails
    stops there (reported in `failed`); the pages before stay taken in, and the next run
    resumes from the last cursor saved."""
    settings = settings or SourceSettings.from_env()
    run = FeedRun()
    changed: set[str] = set()
    t = time.perf_counter()
    watched = _Watched(p, list(feeds))
    with p.read() as session:
        cursors = {s: repo.cursor(session, s.value) for s in feeds}
    t = run._time("consents", t)
    for scope, feed in feeds.items():
        cursor = cursors[scope]
        while True:
            policy = settings.policy(scope)
            try:
                page = guarded_call(
                    f"{scope.value} feed", lambda: feed.changes(cursor, page_size, today),
                    policy, _breaker_of(feed, policy), sleep=sleep)
            except (SourceFailed, SourceUnavailable) as exc:
                run.failed[scope.value] = str(exc)
                break
            t = run._time("feed", t)
            with collector_paused():
                with p.read() as session:
                    whose = watched.of_page(session, scope,
                                            [c.business_id for c in page.changes])
                t = run._time("consents", t)
                t = _ingest_page(p, run, changed, scope, whose, page, today, t)
            if not page.more:
                break
            if page.cursor == cursor:
                run.failed[scope.value] = f"the feed asked for more without moving its " \
                                          f"cursor ({cursor!r})"
                break
            cursor = page.cursor
    if run.skipped:
        log.info("feeds: %d change(s) of businesses without a monitoring consent in force "
                 "skipped", run.skipped)
    run.changed = sorted(changed)
    return run


def _ingest_page(p: Platform, run: FeedRun, changed: set[str], scope: DataScope,
                 watched: Mapping[str, tuple[str, Consent]], page: FeedPage, today: date,
                 t: float) -> float:
    """One page taken in, in one transaction with the feed's new cursor (see `ingest_feeds`)."""
    deliveries: list[_Delivery] = []
    uses: list[tuple] = []
    now = p.clock.now()
    for change in page.changes:
        whose = watched.get(change.business_id)
        if whose is None:
            run.skipped += 1
            continue
        applicant_id, consent = whose
        uses.append((applicant_id, consent.consent_id, "used", scope.value,
                     _PURPOSE.value, None, "{}", now))
        what = f"{change.business_id}:{scope.value}"
        payload = change.received.payload
        try:
            parsed = parse_payload(scope, payload)
        except InvalidRecord as exc:
            run.refused[what] = str(exc)
            continue
        if parsed.business_id != change.business_id:
            run.refused[what] = "the delta describes another business than the change's"
            continue
        if parsed.as_of > today:
            run.refused[what] = (f"dated {parsed.as_of.isoformat()}, after today "
                                 f"({today.isoformat()})")
            continue
        body = change.received.body
        deliveries.append(_Delivery(applicant_id, scope, consent.consent_id, body,
                                    parsed, payload.get("records", []), payload,
                                    hashlib.sha256(body).hexdigest()))
    t = run._time("validate", t)
    with p.unit() as session:
        if uses:
            repo.log_uses(session, uses)
        stored = _take_in(p, session, deliveries)
        repo.save_cursor(session, scope.value, page.cursor, now)
    t = run._time("store", t)
    run.pages += 1
    run.payloads_stored += sum(stored)
    run.unchanged += len(stored) - sum(stored)
    changed.update(d.applicant_id for d, s in zip(deliveries, stored) if s)
    return t


__all__ = ["accept", "load_sources", "load_data", "ingest_feeds", "FeedRun", "window_start"]
