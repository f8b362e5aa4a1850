"""The batch re-evaluation (`services.line_refresh`) records exactly what re-evaluating each
borrower on its own (`reevaluation.reevaluate_applicant`) would: same facts, same fingerprint,
same outcome, and applies each change once."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from puhui.errors import InvalidAmount
from puhui.parties.synthetic import small_business
from puhui.risk import sme
from puhui.risk.data.connectors import payload_of
from puhui.risk.errors import SourceUnavailable
from puhui.services import applicants as svc
from puhui.services import line_refresh as batch
from puhui.services import reevaluation as rv
from puhui.services.providers import world_connectors
from puhui.store.line_models import LineDecisionRow

from line_policy_samples import TODAY
from line_service_samples import (ADMIN, FakeLine, FeatureScorer, LineRecorder, electricity,
                                  monitor, sales)

SCOPES = ("utility", "sales", "tax", "bank_statement")


def _borrowers(p, n: int, seed: int = 7) -> list[tuple[str, str]]:
    """`n` borrowers of different businesses with a monitoring consent: (applicant, USCC)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        business = small_business(rng, TODAY)
        with p.unit() as session:
            a = svc.register_applicant(p, session, ADMIN, business)["applicant_id"]
            svc.grant_consent(p, session, ADMIN, a, "post_loan_monitoring", list(SCOPES))
        out.append((a, business.uscc))
    return out


def _push(p, applicant_id, scope, payload) -> None:
    with p.unit() as session:
        rv.push_data(p, session, ADMIN, applicant_id, scope, payload, None)


def _build(monitored):
    """Fourteen borrowers: most with the synthetic world's data for every scope, some with an
    electricity jump or a sales collapse pushed on top, one with no data at all; lines of
    every kind (frozen, repriced before, two lines for one borrower)."""
    world = world_connectors(sme.live_world(400, 11, TODAY))
    people = _borrowers(monitored, 14)
    for k, (a, uscc) in enumerate(people[:-1]):
        for scope in SCOPES:
            if k % 4 == 2 and scope == "sales":
                continue  # its own sales only: a collapse in the last month
            try:
                answer = world[scope].fetch(uscc, TODAY)
            except SourceUnavailable:  # this business has no such source
                continue
            if answer is not None:
                payload = payload_of(answer)
                if payload["records"]:
                    _push(monitored, a, scope, payload)
        if k % 4 == 1:
            _push(monitored, a, "utility", electricity([1000, 1010, 1420], business_id=uscc))
        if k % 4 == 2:
            _push(monitored, a, "sales", sales([900_000] * 12 + [100_000], business_id=uscc))
    lines = LineRecorder()
    for k, (a, _) in enumerate(people):
        lines.add(FakeLine(f"LN{k:02d}", a, limit=5_000_000 + 1_000_000 * k,
                           drawn=100_000 * k, annual_rate=Decimal("0.108") + Decimal(k) / 1000,
                           status="frozen" if k % 5 == 3 else "active",
                           changed_on=TODAY - timedelta(days=40 + k) if k % 3 == 0 else None,
                           opened_on=date(2026, 1, 5) - timedelta(days=k)))
    lines.add(FakeLine("LN99", people[0][0]))  # a second line of the first borrower
    return monitored, lines, [a for a, _ in people]


@pytest.fixture
def book(monitored):
    return _build(monitored)


@pytest.fixture
def twin(tmp_path):
    """The same book on a second database."""
    from puhui.services.clock import ManualClock, at_business_date
    from puhui.services.platform import Platform

    p = Platform.open(f"sqlite:///{tmp_path / 'twin.sqlite'}",
                      clock=ManualClock(at_business_date(TODAY)))
    try:
        yield _build(p)
    finally:
        p.close()


def _records(p) -> dict[str, dict]:
    with p.read() as session:
        rows = session.execute(select(LineDecisionRow.line_id, LineDecisionRow.record,
                                      LineDecisionRow.input_sha256)).all()
    return {r.line_id: {**json.loads(r.record), "_fp": r.input_sha256} for r in rows}


@pytest.mark.parametrize("workers,scored", [(1, False), (2, False), (1, True), (2, True)])
def test_the_batch_records_what_one_borrower_at_a_time_would(book, twin, workers,
                                                             scored) -> None:
    p, lines, people = book
    q, twin_lines, twin_people = twin
    scorer, twin_scorer = (FeatureScorer(), FeatureScorer()) if scored else (None, None)
    run = batch.reevaluate_applicants(p, monitor(lines, scorer=scorer), people, trigger="feed",
                                      chunk=5, workers=workers)
    # in worker processes, the features are waited for (and the borrowers scored); here,
    # computed
    in_workers = workers > 1 and p.engine.url.database not in (None, "", ":memory:")
    assert ("features (waited for)" in run.seconds) == in_workers
    if scored:
        assert scorer.calls == (0 if in_workers else len(people))
    assert run.lines == len(lines.lines) == 15 and run.recorded == 15 and run.moved == 0
    assert run.refused == {} and run.changed == run.applied == len(lines.calls) > 0
    # the same book, one borrower at a time
    for a in twin_people:
        with q.unit() as session:
            rv.reevaluate_applicant(q, session, a, monitor(twin_lines, scorer=twin_scorer),
                                    trigger="feed")
    ours, theirs = _records(p), _records(q)
    assert set(ours) == set(theirs) == set(lines.lines)
    fired = {code for r in ours.values() for code in r["outcome"]["fired"]}
    assert {"ELECTRICITY_JUMP", "SALES_COLLAPSE"} <= fired
    for line_id, record in ours.items():
        other = theirs[line_id]
        for part in ("line", "engaged_before", "facts", "outcome", "data", "model_versions",
                     "policy_sha256", "decided_on", "trigger", "_fp"):
            assert record[part] == other[part], (line_id, part)
    assert [{k: v for k, v in c.items() if k not in ("key", "decision_id")}
            for c in lines.calls] == \
        [{k: v for k, v in c.items() if k not in ("key", "decision_id")}
         for c in twin_lines.calls]
    # the borrower without data is re-evaluated on no data, as the one-borrower path does
    assert ours["LN13"]["data"] == {} and ours["LN13"]["facts"]["months_of_history"] == 0.0


def test_a_decision_recorded_by_the_batch_is_not_recorded_again_one_borrower_at_a_time(
        book) -> None:
    p, lines, people = book

    def hold(*args, **kwargs):  # every change refused: the lines stay as they were read
        raise InvalidAmount("held for the comparison")

    held = monitor(lines, apply_line_change=hold)
    run = batch.reevaluate_applicants(p, held, people, trigger="feed", chunk=5, workers=1)
    assert run.changed == len(run.refused) > 0 and run.applied == 0 and lines.calls == []
    recorded = _records(p)
    quiet = [a for a in people
             if not any(recorded[x.line_id]["outcome"]["engaged"]
                        for x in lines.lines_of(None, a))]
    assert len(quiet) > 5
    for a in quiet:  # (an engaged rule is a new input for the next decision: hysteresis)
        with p.unit() as session:
            for done in rv.reevaluate_applicant(p, session, a, held, trigger="push:utility"):
                assert not done.new and done.decision_id == \
                    recorded[done.decision.line_id]["decision_id"]
        with p.read() as session:
            _, hashes, _ = rv.applicant_data(session, a, TODAY)
        for line in lines.lines_of(None, a):
            assert recorded[line.line_id]["data"] == hashes
    assert len(_records(p)) == 15


def test_changes_are_applied_once_with_the_recorded_decision(book) -> None:
    p, lines, people = book
    run = batch.reevaluate_applicants(p, monitor(lines), people, trigger="feed", chunk=4,
                                      workers=1)
    assert run.refused == {} and run.changed == run.applied == len(lines.calls) > 0
    recorded = _records(p)
    for call in lines.calls:
        record = recorded[call["line_id"]]
        assert call["decision_id"] == record["decision_id"] and call["actor"] == "system"
        assert call["key"] == f"line-decision:{record['decision_id']}"
        assert call["limit"] == record["outcome"]["limit"]
        assert call["freeze"] == record["outcome"]["freeze"]


def test_a_second_run_on_the_same_data_records_and_applies_nothing_new(book) -> None:
    p, lines, people = book
    mon = monitor(lines)
    batch.reevaluate_applicants(p, mon, people, trigger="feed", workers=1)
    calls, before = len(lines.calls), _records(p)
    again = batch.reevaluate_applicants(p, mon, people, trigger="feed", workers=1)
    # a line changed by the first run has new inputs (its new limit or price, its engaged
    # rule), so it is recorded again, but its new decision holds the line where it is
    changed = {c["line_id"] for c in lines.calls}
    assert again.recorded == len(changed) and len(lines.calls) == calls
    after = _records(p)
    assert {k for k in after if after[k]["_fp"] != before[k]["_fp"]} == changed


def test_a_line_changed_between_read_and_write_is_reevaluated_as_it_is_now(book) -> None:
    p, lines, people = book
    target = "LN04"

    def behaviour_of(session, read, today, since):
        # runs in the read phase: a draw lands on one line before the chunk is written
        lines.lines[target] = replace(lines.lines[target], drawn=lines.lines[target].drawn
                                      + 123_400)
        from puhui.lines.signals import repayment_facts
        return {x.line_id: repayment_facts([], today, since[x.line_id]) for x in read}

    mon = monitor(lines, behaviour_of=behaviour_of)
    run = batch.reevaluate_applicants(p, mon, people, trigger="feed", chunk=100, workers=1)
    assert run.moved == 1 and run.lines == 15
    record = _records(p)[target]
    assert record["line"]["drawn"] == lines.lines[target].drawn  # what the line is now
    assert record["trigger"] == "feed"


def test_a_refused_change_is_reported_and_the_rest_apply(book) -> None:
    p, lines, people = book
    lines.refuse = InvalidAmount("the line cannot change now")
    run = batch.reevaluate_applicants(p, monitor(lines), people, trigger="feed", workers=1)
    assert len(run.refused) == 1 and "InvalidAmount" in next(iter(run.refused.values()))
    assert run.applied == run.changed - 1 == len(lines.calls) and run.recorded == 15


def test_borrowers_without_open_lines_cost_nothing_and_bad_chunks_are_refused(book) -> None:
    p, lines, people = book
    for line_id in list(lines.lines):
        lines.lines[line_id] = replace(lines.lines[line_id], status="closed")
    run = batch.reevaluate_applicants(p, monitor(lines), people, trigger="feed", workers=1)
    assert run.lines == run.recorded == 0 and run.applicants == len(people)
    with pytest.raises(ValueError):
        batch.reevaluate_applicants(p, monitor(lines), people, trigger="feed", chunk=0)


def test_the_number_of_workers_is_a_bounded_setting() -> None:
    assert batch.refresh_workers({"PUHUI_REFRESH_WORKERS": "3"}) == 3
    assert batch.refresh_workers({}) >= 1
    for bad in ("0", "65", "two", "-1", "1.5"):
        with pytest.raises(batch.RefreshSettingsError, match="PUHUI_REFRESH_WORKERS"):
            batch.refresh_workers({"PUHUI_REFRESH_WORKERS": bad})
