"""The batch re-evaluation decides in its worker processes what it would decide in its own
(`services.line_refresh`): the same rows recorded, decision ids and times apart; and when the
policy cannot travel or a worker is lost, the main process decides the chunk itself.  A line
moved between the read and the write is found from its stored state (`line_states`)."""

from __future__ import annotations

import json
import multiprocessing
import os
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from puhui.lines.policy import LinePolicy, default_line_policy
from puhui.services import line_refresh as batch
from puhui.services.clock import ManualClock, at_business_date
from puhui.services.platform import Platform
from puhui.services.reevaluation import LineMonitor
from puhui.store.line_decision_repo import line_states
from puhui.store.line_models import LineDecisionRow
from puhui.store.line_repo import LINES

from line_policy_samples import TODAY
from line_service_samples import FeatureScorer, monitor
from lines_samples import granted_line
from test_line_refresh_batch import _build


class DyingScorer(FeatureScorer):
    """A scorer that scores as `FeatureScorer` here, but whose worker process dies as it
    receives it: every chunk handed out is lost."""

    def __setstate__(self, state):
        if multiprocessing.parent_process() is not None:
            os._exit(3)
        self.__dict__.update(state)


def _platform(tmp_path, name: str) -> Platform:
    return Platform.open(f"sqlite:///{tmp_path / name}",
                         clock=ManualClock(at_business_date(TODAY)))


@pytest.fixture
def books(tmp_path):
    """The batch tests' book twice, on two SQLite files (workers can open them)."""
    p, q = _platform(tmp_path, "one.sqlite"), _platform(tmp_path, "two.sqlite")
    try:
        yield _build(p), _build(q)
    finally:
        p.close()
        q.close()


def _rows(p, people) -> dict[str, dict]:
    """Every recorded column by line, the decision's id and time left out (and from the
    record's JSON, the id: its SHA-256 is compared through the JSON itself); the borrower as
    its place in `people` (the two books' ids differ)."""
    with p.read() as session:
        rows = session.execute(select(LineDecisionRow)).scalars().all()
    out = {}
    for r in rows:
        record = json.loads(r.record)
        assert record.pop("decision_id") == r.decision_id
        assert record["applicant_id"] == r.applicant_id
        record["applicant_id"] = people.index(r.applicant_id)
        out[r.line_id] = {c: getattr(r, c) for c in (
            "decided_on", "trigger", "policy_version", "policy_sha256",
            "changes", "limit_after", "rate_after", "freeze", "engaged", "input_sha256")}
        out[r.line_id]["record"] = record
    return out


def _calls(lines) -> list[dict]:
    return [{k: v for k, v in c.items() if k not in ("key", "decision_id")}
            for c in lines.calls]


def _both(books, scorers, policies=(None, None), workers=(2, 1)):
    (p, lines, people), (q, twin_lines, twin_people) = books
    runs = []
    for platform, recorder, who, scorer, policy, n in (
            (p, lines, people, scorers[0], policies[0], workers[0]),
            (q, twin_lines, twin_people, scorers[1], policies[1], workers[1])):
        mon = monitor(recorder, scorer=scorer, policy=policy or default_line_policy())
        runs.append(batch.reevaluate_applicants(platform, mon, who, trigger="feed", chunk=5,
                                                workers=n))
    assert _rows(p, people) == _rows(q, twin_people) and len(_rows(p, people)) == 15
    assert _calls(lines) == _calls(twin_lines) and lines.calls
    for run in runs:
        assert run.lines == run.recorded == 15 and run.refused == {} and run.moved == 0
    return runs


@pytest.mark.parametrize("scored", [False, True])
def test_the_workers_decide_and_record_what_the_main_process_would(books, scored) -> None:
    scorers = (FeatureScorer(), FeatureScorer()) if scored else (None, None)
    in_workers, here = _both(books, scorers)
    # decided in the workers: waited for, and nothing scored or decided here
    assert "features (waited for)" in in_workers.seconds and "scores" not in in_workers.seconds
    assert "features" in here.seconds and "scores" in here.seconds
    if scored:
        assert scorers[0].calls == 0 and scorers[1].calls == 15 - 1  # two lines, one borrower


def test_a_policy_that_cannot_travel_is_applied_here(books) -> None:
    class HereOnly(LinePolicy):  # a local class: its objects cannot be pickled
        pass

    policy = HereOnly.model_validate(default_line_policy().model_dump())
    assert policy.sha256 == default_line_policy().sha256
    in_workers, _ = _both(books, (FeatureScorer(), FeatureScorer()), (policy, None))
    assert "features (waited for)" in in_workers.seconds and "scores" in in_workers.seconds


def test_a_lost_worker_leaves_its_chunks_to_the_main_process(books) -> None:
    dying = DyingScorer()
    lost, _ = _both(books, (dying, FeatureScorer()))
    assert dying.calls == 15 - 1 and "scores" in lost.seconds
    assert batch._POOLS == {} or all(not getattr(pool, "_broken", False)
                                     for pool in batch._POOLS.values())


@pytest.fixture
def real_line(db_url):
    """A platform at TODAY with one real credit line: (platform, line)."""
    p = Platform.open(db_url, clock=ManualClock(at_business_date(TODAY - timedelta(days=100))))
    try:
        line = granted_line(p)
        p.clock.set(at_business_date(TODAY))
        yield p, line
    finally:
        p.close()


def test_a_real_line_drawn_between_read_and_write_is_found_from_its_stored_state(
        real_line) -> None:
    p, line = real_line
    a, line_id = line["applicant_id"], line["line_id"]
    mon = LineMonitor.for_platform(p)
    assert mon.line_states_of is line_states

    def behaviour_of(session, read, today, since):
        # in the read stage: a draw lands on the line before the chunk is written
        session.execute(update(LINES).where(LINES.c.line_id == line_id)
                        .values(drawn=LINES.c.drawn + 123_400))
        return mon.behaviour_of(session, read, today, since)

    moving = LineMonitor.for_platform(p, behaviour_of=behaviour_of)
    assert moving.line_states_of is line_states
    run = batch.reevaluate_applicants(p, moving, [a], trigger="feed", workers=1)
    assert run.moved == 1 and run.lines == 1 and run.recorded == 1
    with p.read() as session:
        [record] = session.execute(select(LineDecisionRow.record)).scalars().all()
        [drawn] = session.execute(select(LINES.c.drawn)).scalars().all()
    assert json.loads(record)["line"]["drawn"] == drawn == line["drawn"] + 123_400
    # unmoved, the line is kept as read; and a monitor reading other lines compares them whole
    again = batch.reevaluate_applicants(p, mon, [a], trigger="feed", workers=1)
    assert again.moved == 0 and again.lines == 1
    assert LineMonitor.for_platform(p, lines_of=mon.lines_of).line_states_of is None
