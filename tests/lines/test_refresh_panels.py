"""The refresh's panels from summaries (`services.monitoring_panels.load_panels`) are the panels
the full path gives (`monitoring_data.load_data` + `panel.panel_columns`), column for column,
whether a summary is made on the way, read as kept, extended with new deliveries, refused for
a delivery that replaces a summarised record, damaged, or made for another window."""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pytest
from sqlalchemy import select, update

from puhui.parties.synthetic import small_business
from puhui.risk import sme
from puhui.risk.data.connectors import payload_of
from puhui.risk.errors import SourceUnavailable
from polars.testing import assert_frame_equal

from puhui.risk.panel import ROWS, panel_columns, panels_frame
from puhui.services import applicants as svc
from puhui.services import reevaluation as rv
from puhui.services.clock import at_business_date
from puhui.services.monitoring_data import load_data
from puhui.services.monitoring_panels import load_panels
from puhui.services.providers import world_connectors
from puhui.store import monitoring_repo
from puhui.store.monitoring_models import MonitoringSummaryRow

from line_policy_samples import TODAY
from line_service_samples import ADMIN

SCOPES = ("utility", "sales", "tax", "bank_statement", "logistics", "app_behaviour")
SUMMARY = MonitoringSummaryRow.__table__


def _people(p, n: int = 8) -> list[tuple[str, str]]:
    rng = random.Random(3)
    world = world_connectors(sme.live_world(300, 5, TODAY))
    out = []
    for _ in range(n):
        business = small_business(rng, TODAY)
        with p.unit() as session:
            a = svc.register_applicant(p, session, ADMIN, business)["applicant_id"]
            svc.grant_consent(p, session, ADMIN, a, "post_loan_monitoring", list(SCOPES))
        out.append((a, business.uscc))
    for k, (a, uscc) in enumerate(out[:-1]):  # the last: no data at all
        for scope in SCOPES:
            try:
                answer = world[scope].fetch(uscc, TODAY)
            except SourceUnavailable:
                continue
            if answer is not None and payload_of(answer)["records"]:
                _push(p, a, scope, payload_of(answer))
    return out


def _push(p, a: str, scope: str, payload: dict) -> None:
    with p.unit() as session:
        rv.push_data(p, session, ADMIN, a, scope, payload, None)


def _same(ours: dict, theirs: dict) -> None:
    assert list(ours) == list(theirs)
    for name in ours:
        (v1, m1), (v2, m2) = ours[name], theirs[name]
        m1 = np.ones(len(v1), bool) if m1 is None else m1
        m2 = np.ones(len(v2), bool) if m2 is None else m2
        assert np.array_equal(m1, m2), name
        assert np.array_equal(np.where(m1, v1, v1[:0].dtype.type() if v1.dtype != object
                                       else None),
                              np.where(m2, v2, v2[:0].dtype.type() if v2.dtype != object
                                       else None)), name


def _check(p, ids: list[str], today: date):
    """load_panels against the full path, for every borrower; the loaded answer (its
    summaries kept, as the refresh's writer keeps them)."""
    with p.read() as session:
        loaded = load_panels(session, ids, today)
        data, hashes, _ = load_data(session, ids, today, save=False)
    for a in ids:
        assert loaded.hashes[a] == hashes[a], a
        if not data[a]:
            assert a not in loaded.panels
            continue
        _same(loaded.panels[a], panel_columns(data[a], today))
    # the refresh's form: one frame keyed by borrower, the rows of the borrowers' panels
    with p.read() as session:
        framed = load_panels(session, ids, today, as_frame=True)
    expected = panels_frame([{**loaded.panels[a],
                              "business_id": (np.full(ROWS, a, dtype=object), None)}
                             for a in ids if a in loaded.panels])
    assert_frame_equal(framed.frame.sort("business_id", "month"),
                       expected.sort("business_id", "month"))
    assert framed.hashes == loaded.hashes and framed.full_path == loaded.full_path
    assert framed.summarised == loaded.summarised
    with p.unit() as session:
        monitoring_repo.save_summaries(session, loaded.summaries)
    return loaded


def test_panels_from_summaries_equal_the_full_path_through_their_life(monitored) -> None:
    p = monitored
    people = _people(p)
    ids = [a for a, _ in people]
    first = _check(p, ids, TODAY)  # no summary yet: made from the bases
    # (the borrower with no data has no states yet: the full path looks for its payloads)
    assert len(first.summaries) >= 14 and first.summarised >= 14 and first.full_path == 1
    kept = _check(p, ids, TODAY)  # read as kept
    assert kept.summaries == [] and kept.summarised == first.summarised
    # new deliveries on top: a day's orders and bank lines (new keys) -- the tail
    a, uscc = people[0]
    _push(p, a, "sales", {"business_id": uscc, "as_of": TODAY.isoformat(), "records": [
        {"order_id": f"NEW-{i}", "ordered_on": (TODAY - timedelta(days=i)).isoformat(),
         "channel": "ecommerce", "amount_fen": 12_345 * (i + 1),
         "customer_hash": f"{i:064x}", "refunded": False} for i in range(3)]})
    _push(p, a, "bank_statement", {"business_id": uscc, "as_of": TODAY.isoformat(), "records": [
        {"booked_on": TODAY.isoformat(), "amount_fen": 50_000, "counterparty_hash": "9" * 64,
         "balance_after_fen": 9_050_000},
        {"booked_on": TODAY.isoformat(), "amount_fen": -20_000, "counterparty_hash": "9" * 64,
         "balance_after_fen": 9_030_000}]})
    tail = _check(p, ids, TODAY)
    assert tail.full_path == 1 and tail.summaries == []
    # a delivery replacing a summarised record (an order refunded): that borrower alone takes
    # the full path, with the same answer
    with p.read() as session:
        data, _, _ = load_data(session, [a], TODAY, save=False)
    order = data[a]["sales"].records[0] if "sales" in data[a] else None
    if order is not None:
        _push(p, a, "sales", {"business_id": uscc, "as_of": TODAY.isoformat(), "records": [
            {**order.model_dump(mode="json"), "refunded": True,
             "refunded_on": TODAY.isoformat()}]})
        replaced = _check(p, ids, TODAY)
        assert replaced.full_path == 2
    # a damaged summary is made again, not trusted
    with p.unit() as session:
        session.execute(update(SUMMARY).where(SUMMARY.c.applicant_id == people[1][0])
                        .values(blob=b"PSM1garbage"))
    again = _check(p, ids, TODAY)
    assert again.summaries and {r["applicant_id"] for r in again.summaries} == {people[1][0]}
    # a month later the window has moved: every summary is made again for it
    later = TODAY + timedelta(days=31)
    p.clock.set(at_business_date(later))
    moved = _check(p, ids, later)
    assert len(moved.summaries) >= 14
    with p.read() as session:
        windows = {w for (w,) in session.execute(select(SUMMARY.c.window_from))}
    assert len(windows) == 1


def test_a_summary_of_another_base_is_not_used(monitored) -> None:
    p = monitored
    people = _people(p, 3)
    ids = [a for a, _ in people]
    _check(p, ids, TODAY)
    with p.unit() as session:
        session.execute(update(SUMMARY).values(base_sha256="0" * 64))
    loaded = _check(p, ids, TODAY)
    assert len(loaded.summaries) >= 4 and loaded.full_path == 1


@pytest.mark.parametrize("erase", ["drop"])
def test_summaries_go_with_their_states(monitored, erase) -> None:
    p = monitored
    people = _people(p, 2)
    ids = [a for a, _ in people]
    _check(p, ids, TODAY)
    with p.unit() as session:
        monitoring_repo.drop_states(session, ids)
        assert session.execute(select(SUMMARY)).all() == []
        monitoring_repo.save_summaries(session, [{
            "applicant_id": ids[0], "scope": "sales", "base_sha256": "0" * 64,
            "window_from": TODAY, "blob": b"x"}])  # of a state no longer there: not written
        assert session.execute(select(SUMMARY)).all() == []


def test_summaries_that_cannot_be_kept_do_not_stop_the_decisions(monitored, monkeypatch) -> None:
    """The refresh's writer keeps the summaries its readers made in a savepoint of the chunk's
    transaction: a failure there is logged and the lines' decisions are written all the same."""
    from line_service_samples import LineRecorder, FakeLine, monitor
    from puhui.services import line_refresh as batch

    p = monitored
    people = _people(p, 3)
    lines = LineRecorder()
    for k, (a, _) in enumerate(people):
        lines.add(FakeLine(f"LN{k}", a))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(monitoring_repo, "save_summaries", broken)
    run = batch.reevaluate_applicants(p, monitor(lines), [a for a, _ in people],
                                      trigger="feed", workers=1)
    assert run.summaries == 0 and run.recorded == 3 and run.refused == {}
    monkeypatch.undo()
    again = batch.reevaluate_applicants(p, monitor(lines), [a for a, _ in people],
                                        trigger="feed", workers=1)
    assert again.summaries >= 4  # made again, kept this time
