"""Re-evaluating many borrowers' lines at once: what the 15-minute refresh runs after ingesting
the sources' change feeds.

Why a second path beside `reevaluation.reevaluate_applicant`: one borrower at a time costs a
transaction, a dozen queries and a monthly panel frame of its own per business; a cycle that
must re-evaluate up to the whole book (200,000 businesses) in minutes cannot pay that.  This
path does the same work per chunk of borrowers, with each step done once for the chunk:

1. **read** (one short write transaction: the settlement cache is kept as it is read): the
   borrowers' open lines, the lines' latest decisions and last re-pricing, the rate cap in
   force and the lines' repayment record (`LineMonitor.behaviour_of`), gathered per line into
   what deciding it needs (its `LineFacts`, engaged rules and `LineHistory`);
2. **compute**: every business's panel (`monitoring_panels.load_panels`, a source at a time
   over the chunk's businesses: the large sources from their bases' summaries extended with
   the states' tails, the small ones from their merged records; the same columns
   `panel_columns` gives on the whole data, one frame for the chunk), the
   point-in-time features (`feature_frame`) and monitoring signals (`monitoring_frame`) over
   the chunk in one pass, the chunk's scores in one call (`scorer.score_many`, the same
   numbers as `score` one borrower at a time), then the line policy's decision on each line
   (`decide` on the facts gathered once) with its record's row: in worker processes when
   there are several (each chunk read here first and handed out with what its lines need,
   at most one chunk per worker ahead of the one being written; the policy and the scorer
   pickled once per run), else here;
3. **write** (one write transaction): lines changed since they were read (a draw, a
   repayment, a staff operation in between; found from their stored state alone,
   `LineMonitor.line_states_of`) are set aside and re-evaluated one borrower at a
   time in the same transaction, on what they are now; the others' records are inserted in
   bulk (a record whose inputs were recorded already is not recorded again) and the changes
   are applied and told to the borrowers together (`reevaluation.apply_decisions`: the
   monitor's `apply_line_changes`, `lines.change_lines`, in a few statements for the chunk,
   exactly as one `apply_decision` each in a savepoint would; one at a time when the monitor
   has no bulk form); the summaries the workers made on the way are kept.

The records are those of the one-borrower path, field for field (the same facts, the same
fingerprint, the same payload hashes): a borrower re-evaluated by either path on the same day
and the same data is recorded once.  tests/lines/test_line_refresh_batch.py holds them equal.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping, Sequence

from puhui.errors import PuhuiError
from puhui.lines.policy import (OPEN_STATUSES, LineFacts, LineHistory, LinePolicy, decide,
                                line_facts)
from puhui.lines.record import canonical, input_sha256, record_dict
from puhui.lines.signals import SIGNALS, monitoring_frame, repayment_facts
from puhui.loans.caps import cap_to_dict
from puhui.risk.features import FEATURES, feature_frame
from puhui.runtime import collector_paused
from puhui.services.clock import business_date
from puhui.services.ids import new_id
from puhui.services.monitoring_panels import load_panels
from puhui.services.platform import Platform
from puhui.services.reevaluation import (LineMonitor, _engaged, _record_values, _status,
                                         apply_decisions, line_facts_from, line_state,
                                         reevaluate_applicant)
from puhui.store import line_decision_repo as repo
from puhui.store import monitoring_repo

log = logging.getLogger("puhui.lines")

#: Borrowers per chunk: one read and one write transaction each.
CHUNK = 2_000


@dataclass
class RefreshRun:
    """What `reevaluate_applicants` did: counts and seconds per stage."""

    applicants: int = 0
    lines: int = 0
    recorded: int = 0
    changed: int = 0
    applied: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    moved: int = 0
    summaries: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def add_time(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now

    def view(self) -> dict[str, Any]:
        return {"applicants": self.applicants, "lines_reevaluated": self.lines,
                "decisions_recorded": self.recorded, "lines_changed": self.changed,
                "changes_applied": self.applied, "changes_refused": dict(self.refused),
                "lines_moved_meanwhile": self.moved, "summaries_made": self.summaries,
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


@dataclass(frozen=True)
class _Evaluated:
    applicant_id: str
    line: Any  # the line as read
    decision: Any  # None when it changes nothing
    record_values: tuple[Any, ...]  # the record's row, in `repo.DECISION_COLUMNS` order
    fingerprint: str


def reevaluate_applicants(p: Platform, monitor: LineMonitor, applicant_ids: Sequence[str], *,
                          trigger: str, today: date | None = None, chunk: int = CHUNK,
                          workers: int | None = None, progress: Any = None) -> RefreshRun:
    """Re-evaluate every open line of these borrowers on today's data (see the module's doc).

    `workers` processes (default `refresh_workers()`, from PUHUI_REFRESH_WORKERS) compute the
    borrowers' features, score them and decide their lines, a chunk each at a time, while this
    process reads each chunk before handing it out and writes the chunks in order; with one
    worker, or a database other processes cannot open (SQLite in memory), or a single chunk,
    all of it happens here.  A chunk whose read or write fails is reported under `refused` by
    its first borrower and the others go on; `progress(n)` is called with each chunk's number
    of borrowers done."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    today = today or business_date(p.clock)
    workers = refresh_workers() if workers is None else workers
    run = RefreshRun()
    ids = sorted(set(applicant_ids))
    parts = [ids[start:start + chunk] for start in range(0, len(ids), chunk)]
    url = _shared_url(p)
    if workers > 1 and len(parts) > 1 and url is not None:
        pool = _pool(workers)
        scorer = _packed(monitor.scorer)
        # the policy travels only with the scores: a scorer kept here means deciding here
        policy = _packed(monitor.policy, "policy") \
            if monitor.scorer is None or scorer is not None else None
        slots: list[Any] = [None] * len(parts)

        def start(k: int) -> None:
            """Read chunk k (here, in order) and hand it to a worker."""
            try:
                read = _read_chunk(p, monitor, parts[k], today, run)
            except PuhuiError as exc:
                slots[k] = exc
                return
            future = None
            if read.lines:
                try:
                    future = pool.submit(_chunk_in_worker, url, read.holders, today, scorer,
                                         policy, read.plans if policy is not None else None,
                                         trigger, read.now)
                except Exception as exc:  # noqa: BLE001 - a pool lost: this chunk is done here
                    log.warning("line refresh: no worker for a chunk (%s: %s); computing here",
                                type(exc).__name__, exc)
                    _POOLS.pop(workers, None)
            slots[k] = (read, future)

        for k in range(min(workers, len(parts))):
            start(k)
        for k, part in enumerate(parts):
            # at most `workers` chunks ahead of the one being written: memory stays bounded;
            # the next one is read while the workers compute
            if k + workers < len(parts):
                start(k + workers)
            slot, slots[k] = slots[k], None
            _chunk(p, monitor, part, today, trigger, run, slot)
            if progress is not None:
                progress(len(part))
    else:
        for part in parts:
            _chunk(p, monitor, part, today, trigger, run, None)
            if progress is not None:
                progress(len(part))
    return run


def refresh_workers(env: Mapping[str, str] | None = None) -> int:
    """Processes computing features for the batch re-evaluation: PUHUI_REFRESH_WORKERS, 1 to
    64 (default: the machine's cores); anything else is refused."""
    env = os.environ if env is None else env
    text = env.get("PUHUI_REFRESH_WORKERS", "").strip()
    if not text:
        return max(1, os.cpu_count() or 1)
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise RefreshSettingsError(f"PUHUI_REFRESH_WORKERS must be a whole number from 1 to 64, "
                             f"got {text!r}")
    return int(text)


class RefreshSettingsError(PuhuiError, ValueError):
    """A refresh setting out of its bounds."""


_POOLS: dict[int, Any] = {}


def _pool(workers: int) -> Any:
    """A pool of `workers` processes kept for the life of this one (started by spawning: the
    scheduler's process has threads, which forking would copy mid-flight)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = _POOLS.get(workers)
    if pool is None:
        pool = _POOLS[workers] = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"))
    return pool


def _shared_url(p: Platform) -> str | None:
    """The database URL another process can open (None for SQLite in memory)."""
    url = p.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


_ENGINES: dict[str, Any] = {}
_UNPACKED: dict[str, dict[bytes, Any]] = {"scorer": {}, "policy": {}}


def _packed(thing: Any, what: str = "scorer") -> bytes | None:
    """The scorer (or the line policy) as the workers receive it: pickled once per run (the
    scorer is a quarter of a megabyte); None when it cannot travel (it is used here then)."""
    import pickle

    if thing is None:
        return None
    try:
        return pickle.dumps(thing, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - what cannot travel is used in this process
        log.info("line refresh: the %s stays in this process (%s: %s)", what,
                 type(exc).__name__, exc)
        return None


def _unpacked(packed: bytes, what: str) -> Any:
    """`_packed`'s object again, unpickled once per worker process and object."""
    import hashlib
    import pickle

    key = hashlib.sha256(packed).digest()
    kept = _UNPACKED[what]
    found = kept.get(key)
    if found is None:
        kept.clear()
        found = kept[key] = pickle.loads(packed)  # noqa: S301 - this process's own bytes
    return found


def _features_in_worker(url: str, applicant_ids: list[str], today: date,
                        scorer: bytes | None = None
                        ) -> tuple[dict[str, tuple[dict[str, Any], dict[str, str]]],
                                   dict[str, Any] | None, list[dict[str, Any]]]:
    """In a worker process: `borrower_features` on its own read engine (kept per URL), each
    borrower's scores when given the scorer (unpickled once per worker and scorer; None
    without it) and the summaries made on the way."""
    from puhui.store.db import make_engine, reader_for, reading

    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = reader_for(make_engine(url))
    with reading(engine) as session:
        computed, summaries = borrower_features(session, applicant_ids, today)
    if scorer is None:
        return computed, None, summaries
    model = _unpacked(scorer, "scorer")
    return (computed, _scored_many(model, {a: feats for a, (feats, _) in computed.items()}),
            summaries)


def _chunk_in_worker(url: str, holders: list[str], today: date, scorer: bytes | None,
                     policy: bytes | None, plans: list[_Plan] | None, trigger: str, now: Any
                     ) -> tuple[Any, Any, list[dict[str, Any]], list[_Decided] | None]:
    """In a worker process: the chunk's features and scores (`_features_in_worker`), then,
    given the policy and the lines' plans, every line's decision and record (`_decide_lines`):
    (None, None, summaries, decided).  Without the policy: (features, scores, summaries,
    None), for this process to decide."""
    computed, scored, summaries = _features_in_worker(url, holders, today, scorer)
    if policy is None or plans is None:
        return computed, scored, summaries, None
    decided = _decide_lines(_unpacked(policy, "policy"), plans, computed, scored, today,
                            trigger, now)
    return None, None, summaries, decided


def _scored(scorer: Any, applicant_id: str, features: Mapping[str, Any]) -> Any:
    """The borrower's scores, or None (and a warning) when the models refuse its features."""
    try:
        return scorer.score(features)
    except PuhuiError as exc:
        log.warning("re-evaluating %s: scoring: %s", applicant_id, exc)
        return None


def _scored_many(scorer: Any, features: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`_scored` of each borrower: the whole chunk in one call when the scorer has `score_many`
    (`ModelScorer`: the same scores, several times faster), else one borrower at a time."""
    many = getattr(scorer, "score_many", None)
    if many is None:
        return {a: _scored(scorer, a, f) for a, f in features.items()}
    with collector_paused():  # thousands of objects kept to the end: nothing cyclic to free
        scored = many(list(features.values()))
    out = {}
    for a, found in zip(features, scored, strict=True):
        if isinstance(found, PuhuiError):
            log.warning("re-evaluating %s: scoring: %s", a, found)
            found = None
        out[a] = found
    return out


def borrower_features(session: Any, applicant_ids: Sequence[str], today: date
                      ) -> tuple[dict[str, tuple[dict[str, Any], dict[str, str]]],
                                 list[dict[str, Any]]]:
    """Each borrower's features and monitoring signals on today's data (as `features_for` and
    `monitoring_features` give them one at a time) and the SHA-256 of its latest payload of
    each scope: every panel built (`monitoring_panels.load_panels`: the large sources from
    their summaries), then the features of all of them in one pass.  Also the summaries made
    on the way, for the writer to keep (this session only reads)."""
    loaded = load_panels(session, applicant_ids, today, as_frame=True)
    for a, found in loaded.problems.items():
        if found:
            log.warning("re-evaluating %s with data problems: %s", a, found)
    panel = loaded.frame
    frame = feature_frame(panel, today).join(monitoring_frame(panel, today),
                                             on="business_id", how="left")
    names = [*FEATURES, *SIGNALS]
    features: dict[str, dict[str, Any]] = {
        row[0]: dict(zip(names, row[1:]))
        for row in frame.select("business_id", *names).iter_rows()}
    return ({a: (features.get(a, _EMPTY), loaded.hashes.get(a, {})) for a in applicant_ids},
            loaded.summaries)


#: The features of a borrower without data (`features_for` and `monitoring_features` of none).
_EMPTY = {**{n: (0.0 if n == "months_of_history" else None) for n in FEATURES},
          **{n: None for n in SIGNALS}}


def _lines_of(monitor: LineMonitor, session: Any, applicant_ids: Sequence[str]) -> list[Any]:
    if monitor.lines_of_many is not None:
        lines = monitor.lines_of_many(session, applicant_ids)
    else:
        lines = [x for a in applicant_ids for x in monitor.lines_of(session, a)]
    return [x for x in lines if _status(x) in OPEN_STATUSES]


def _behaviour(monitor: LineMonitor, session: Any, lines: Sequence[Any], today: date,
               since: dict[str, date]) -> Mapping[str, Mapping[str, int]]:
    if monitor.behaviour_of is not None:
        return monitor.behaviour_of(session, lines, today, since)
    return {x.line_id: repayment_facts(monitor.repayments_of(session, x), today,
                                       since[x.line_id]) for x in lines}


@dataclass(frozen=True)
class _Plan:
    """What deciding one line needs beyond its borrower's features and scores (the read
    stage's, sent to a worker): the line's facts, the rules engaged by its latest decision
    and its repayment history."""

    applicant_id: str
    facts: LineFacts
    engaged: dict[str, date]
    history: LineHistory


#: One line decided: (the decision when it changes the line, else None: its trace need not
#: travel back), the record's row (`repo.DECISION_COLUMNS` values), its inputs' fingerprint.
_Decided = tuple[Any, dict[str, Any], str]


@dataclass
class _Read:
    """A chunk as read: its borrowers with open lines, the lines (they stay in this process:
    the write compares them with the lines then), each line's plan and the records' time."""

    holders: list[str]
    lines: list[Any]
    plans: list[_Plan]
    now: Any


def _chunk(p: Platform, monitor: LineMonitor, part: list[str], today: date, trigger: str,
           run: RefreshRun, slot: Any) -> None:
    """Read (unless `slot` holds the chunk as read and its worker's future, or the read's
    failure), compute, decide and write one chunk."""
    try:
        if isinstance(slot, PuhuiError):
            raise slot
        read, future = slot if slot is not None else (
            _read_chunk(p, monitor, part, today, run), None)
        evaluated, summaries = _evaluate_chunk(p, monitor, read, today, trigger, run,
                                               None if future is None else future.result)
        _write_chunk(p, monitor, evaluated, today, trigger, run, summaries)
    except PuhuiError as exc:
        run.refused[part[0]] = f"{type(exc).__name__}: {exc}"
        log.warning("line refresh: borrowers from %s not re-evaluated: %s", part[0], exc)
    run.applicants += len(part)


def _read_chunk(p: Platform, monitor: LineMonitor, applicant_ids: Sequence[str], today: date,
                run: RefreshRun) -> _Read:
    """The read stage: the borrowers' open lines and, per line, its facts, engaged rules and
    repayment history."""
    t0 = time.perf_counter()
    # a write transaction: the repayment record keeps its settlement cache as it reads it
    with p.unit() as session:
        lines = _lines_of(monitor, session, applicant_ids)
        if not lines:
            run.add_time("read", t0)
            return _Read([], [], [], None)
        line_ids = [x.line_id for x in lines]
        latest = repo.latest_decisions(session, line_ids)
        repriced = repo.last_repriced(session, line_ids)
        cap = p.cap_in_force(session, today)
        facts_of = {x.line_id: line_facts_from(p, x, cap) for x in lines}
        since = {i: max(d for d in (repriced.get(i), f.opened_on) if d)
                 for i, f in facts_of.items()}
        behaviour = _behaviour(monitor, session, lines, today, since)
    plans = []
    for x in lines:
        i = x.line_id
        engaged = _engaged(latest.get(i))
        b = behaviour[i]
        plans.append(_Plan(x.applicant_id, facts_of[i], engaged,
                           LineHistory(b["on_time_months"], b["days_past_due"],
                                       b["missed_instalments_6m"], engaged)))
    run.add_time("read", t0)
    return _Read(sorted({x.applicant_id for x in lines}), lines, plans, p.clock.now())


def _evaluate_chunk(p: Platform, monitor: LineMonitor, read: _Read, today: date, trigger: str,
                    run: RefreshRun, computed: Any) -> tuple[list[_Evaluated],
                                                             list[dict[str, Any]]]:
    """The chunk's lines decided, with their records: by its worker (`computed`, the worker's
    answer to wait for), or here on what the worker computed, or all here (None, or the
    worker lost)."""
    if not read.lines:
        return [], []
    holders = read.holders
    t0 = time.perf_counter()
    scored: dict[str, Any] | None = None  # the workers' scores
    decided: list[_Decided] | None = None  # the workers' decisions
    if computed is None:
        with p.read() as session:
            by_borrower, summaries = borrower_features(session, holders, today)
        t0 = run.add_time("features", t0)
    else:
        try:
            by_borrower, scored, summaries, decided = computed()  # the worker's, waited for
        except Exception as exc:  # noqa: BLE001 - a worker lost is no reason to stop the cycle
            log.warning("line refresh: a feature worker failed (%s: %s); computing here",
                        type(exc).__name__, exc)
            _POOLS.clear()
            with p.read() as session:
                by_borrower, summaries = borrower_features(session, holders, today)
        t0 = run.add_time("features (waited for)", t0)
    if decided is None:
        if monitor.scorer is not None and scored is None:  # scored here
            scored = _scored_many(monitor.scorer, {a: by_borrower[a][0] for a in holders})
        t0 = run.add_time("scores", t0)
        decided = _decide_lines(monitor.policy, read.plans, by_borrower,
                                scored if monitor.scorer is not None else None, today,
                                trigger, read.now)
    out = [_Evaluated(plan.applicant_id, line, decision, row, fingerprint)
           for line, plan, (decision, row, fingerprint)
           in zip(read.lines, read.plans, decided, strict=True)]
    run.add_time("policy", t0)
    return out, summaries


def _decide_lines(policy: LinePolicy, plans: Sequence[_Plan],
                  by_borrower: Mapping[str, tuple[Mapping[str, Any], Mapping[str, str]]],
                  scored: Mapping[str, Any] | None, today: date, trigger: str, now: Any
                  ) -> list[_Decided]:
    """Each line's decision under `policy` (`decide` on the facts gathered once, as
    `evaluate` does), its record's row and its inputs' fingerprint: what
    `reevaluation.reevaluate_applicant` records for it, field for field.  The cyclic collector
    is held off meanwhile: every object made is kept to the end (or freed by reference
    counting), and in a worker holding a chunk's data its passes cost more than the work."""
    with collector_paused():
        return _decided(policy, plans, by_borrower, scored, today, trigger, now)


def _decided(policy: LinePolicy, plans: Sequence[_Plan],
             by_borrower: Mapping[str, tuple[Mapping[str, Any], Mapping[str, str]]],
             scored: Mapping[str, Any] | None, today: date, trigger: str, now: Any
             ) -> list[_Decided]:
    """`_decide_lines`' work."""
    scores = {} if scored is None else scored
    model_versions = {a: dict(s.model_versions) for a, s in scores.items() if s is not None}
    version, policy_sha256 = policy.version, policy.sha256
    caps: dict[int, tuple[Any, dict[str, Any]]] = {}  # the lines' cap (one a chunk), as JSON
    out: list[_Decided] = []
    for plan in plans:
        a, line, engaged = plan.applicant_id, plan.facts, plan.engaged
        feats, hashes = by_borrower[a]
        facts = line_facts(line, feats, scores.get(a), plan.history, today)
        decision = decide(policy, facts, line, engaged, today)  # = evaluate
        cap = caps.get(id(line.rate_cap))
        if cap is None or cap[0] is not line.rate_cap:
            cap = caps[id(line.rate_cap)] = (line.rate_cap, cap_to_dict(line.rate_cap))
        line_dict = line.to_dict(cap[1])
        fingerprint = input_sha256(line_dict, engaged, facts, policy_sha256, today)
        outcome = decision.outcome()
        decision_id = new_id("LD")
        # the record's `to_json`, without making the record (`LineDecisionRecord`)
        text = canonical(record_dict(decision_id, line.line_id, a, today, trigger, version,
                                     policy_sha256, model_versions.get(a, {}), dict(hashes),
                                     line_dict, engaged, facts, outcome))
        out.append((decision if decision.changes else None,
                    _record_values(text, decision_id, line.line_id, a, today, trigger,
                                   version, policy_sha256, outcome, fingerprint, now),
                    fingerprint))
    return out


def _write_chunk(p: Platform, monitor: LineMonitor, evaluated: list[_Evaluated], today: date,
                 trigger: str, run: RefreshRun, summaries: Sequence[dict[str, Any]] = ()) -> None:
    if not evaluated and not summaries:
        return
    t0 = time.perf_counter()
    with p.unit() as session:
        _keep_summaries(session, summaries, run)
        t0 = run.add_time("keep summaries", t0) if summaries else t0
        holders = sorted({e.applicant_id for e in evaluated})
        # the lines that moved since they were read (a draw, a repayment, a staff operation)
        if monitor.line_states_of is not None:
            current = monitor.line_states_of(session, holders)
        else:
            current = {x.line_id: line_state(x) for x in _lines_of(monitor, session, holders)}
        moved = sorted({e.applicant_id for e in evaluated
                        if current.get(e.line.line_id) != line_state(e.line)})
        keep = [e for e in evaluated if e.applicant_id not in moved]
        known = repo.decisions_by_inputs(session, [(e.line.line_id, e.fingerprint)
                                                   for e in keep])
        fresh = [e for e in keep if (e.line.line_id, e.fingerprint) not in known]
        repo.bulk_add_decisions(session.connection(), [e.record_values for e in fresh])
        run.recorded += len(fresh)
        run.lines += len(keep)
        changing = [(e.applicant_id, e.decision,
                     known.get((e.line.line_id, e.fingerprint), e.record_values[0]))
                    for e in keep if e.decision is not None]
        run.changed += len(changing)
        for (_, decision, _), (_, refused) in zip(
                changing, apply_decisions(p, session, monitor, changing), strict=True):
            if refused is None:
                run.applied += 1
            else:
                run.refused[decision.line_id] = refused
        for applicant_id in moved:  # re-read and re-evaluated as they are now
            run.moved += 1
            for r in reevaluate_applicant(p, session, applicant_id, monitor, trigger=trigger,
                                          today=today):
                run.lines += 1
                run.recorded += r.new
                if r.decision.changes:
                    run.changed += 1
                    if r.refused is None:
                        run.applied += 1
                    else:
                        run.refused[r.decision.line_id] = r.refused
    run.add_time("write", t0)


def _keep_summaries(session: Any, summaries: Sequence[dict[str, Any]], run: RefreshRun) -> None:
    """Keep the summaries the readers made on the way, in a savepoint: they only save the next
    refresh time, so a failure to write them is logged and the chunk's decisions go on."""
    if not summaries:
        return
    try:
        with session.begin_nested():
            monitoring_repo.save_summaries(session, summaries)
        run.summaries += len(summaries)
    except Exception as exc:  # noqa: BLE001 - whatever the database answers, decisions first
        log.warning("line refresh: %d summaries not kept (%s: %s)", len(summaries),
                    type(exc).__name__, exc)


def refresh_cycle(p: Platform, monitor: LineMonitor, today: date | None = None, *,
                  feeds: Mapping[Any, Any] | None = None, connectors: Any = None,
                  workers: int | None = None) -> dict[str, Any]:
    """One run of the line refresh (the scheduler's `line_refresh` job): take in what each
    source's change feed delivered since its cursor (`monitoring_data.ingest_feeds`: a page of
    businesses per transaction), re-evaluate the lines of every borrower whose data changed
    (`reevaluate_applicants`, trigger ``feed``), then ask the sources that have no feed about
    each monitored business one at a time (`reevaluation.refresh_lines`, trigger ``pull``).
    `feeds` and `connectors` default to the platform's.  Returns the run's summary."""
    from puhui.services.monitoring_data import ingest_feeds
    from puhui.services.reevaluation import refresh_lines

    today = today or business_date(p.clock)
    feeds = p.feeds if feeds is None else feeds
    connectors = p.connectors if connectors is None else connectors
    summary: dict[str, Any] = {"business_date": today.isoformat()}
    if feeds:
        t0 = time.perf_counter()
        taken = ingest_feeds(p, feeds, today)
        done = reevaluate_applicants(p, monitor, taken.changed, trigger="feed", today=today,
                                     workers=workers)
        summary["feeds"] = {
            "scopes": sorted(getattr(s, "value", str(s)) for s in feeds),
            "pages": taken.pages, "payloads_stored": taken.payloads_stored,
            "unchanged": taken.unchanged, "not_monitored": taken.skipped,
            "refused": dict(taken.refused), "failed": dict(taken.failed),
            "businesses_changed": len(taken.changed), **done.view(),
            "seconds": {**{f"ingest {k}": round(v, 3) for k, v in taken.seconds.items()},
                        **{f"reevaluate {k}": round(v, 3) for k, v in done.seconds.items()},
                        "total": round(time.perf_counter() - t0, 3)}}
    rest = [s for s in (connectors or ()) if not feeds or s not in feeds]
    if rest:
        summary["pull"] = refresh_lines(p, monitor, connectors, today=today, scopes=rest)
    elif not feeds:
        summary["skipped"] = "no data sources configured"
    parts = [summary[k] for k in ("feeds", "pull") if k in summary]
    for total in ("payloads_stored", "lines_reevaluated", "lines_changed"):
        summary[total] = sum(part.get(total, 0) for part in parts)
    return summary


__all__ = ["RefreshRun", "refresh_cycle", "reevaluate_applicants", "borrower_features", "refresh_workers",
           "RefreshSettingsError", "CHUNK"]
