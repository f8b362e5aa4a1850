"""The line refresh as the scheduler runs it (`scheduler.run_line_refresh` →
`line_refresh.refresh_cycle`): a source's change feed delivers a month of electricity use, the
platform takes it in under consent, re-evaluates the business's real credit line and applies
the shipped ELECTRICITY_JUMP rule through the lines' own `change_line`, telling the borrower;
run again, nothing is taken in or changed twice; sources without a feed are still asked one
business at a time."""

from __future__ import annotations

from datetime import date, timedelta

import orjson
import pytest

from puhui.parties.consent import DataScope
from puhui.risk.data.connectors import ConnectorSet, Received
from puhui.risk.data.feeds import FeedChange, FeedPage
from puhui.services import applicants, lines
from puhui.services.access import SYSTEM
from puhui.services.clock import ManualClock, at_business_date
from puhui.services.gateway import SandboxGateway
from puhui.services.notifications import notifications_of
from puhui.services.platform import Platform
from puhui.services.reevaluation import LineMonitor
from puhui.services.scheduler import run_line_refresh

from line_service_samples import electricity, sales
from lines_samples import granted_line

TODAY = date(2026, 12, 7)


class ScriptedFeed:
    """A utility feed: what it has delivered up to each cursor (an int), one delta per call
    with anything new; `failing` makes the next call fail."""

    scope = DataScope.UTILITY

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, dict]] = []
        self.asked: list[str | None] = []

    def changes(self, since, limit, as_of):
        self.asked.append(since)
        start = int(since or 0)
        page = self.deliveries[start:start + limit]
        changes = [FeedChange(b, Received(orjson.dumps(p, option=orjson.OPT_SORT_KEYS), p))
                   for b, p in page]
        end = start + len(page)
        return FeedPage(changes, str(end), end < len(self.deliveries))


class SalesSource:
    """A sales source without a feed: asked one business at a time."""

    scope = DataScope.SALES

    def __init__(self) -> None:
        self.asked = 0

    def fetch(self, business_id, as_of):
        self.asked += 1
        return sales([800_000] * 12, as_of=as_of, business_id=business_id)


@pytest.fixture
def watched(db_url):
    """A platform at TODAY with a real credit line whose borrower consents to monitoring of
    its utility and sales data: (platform, line, business identity)."""
    p = Platform.open(db_url, clock=ManualClock(at_business_date(TODAY - timedelta(days=100))),
                      gateway=SandboxGateway())
    try:
        line = granted_line(p)
        p.clock.set(at_business_date(TODAY))
        with p.unit() as s:
            applicants.grant_consent(p, s, SYSTEM, line["applicant_id"], "post_loan_monitoring",
                                     ["utility", "sales"])
            business = applicants.business_identity(s, line["applicant_id"])
        p.line_monitor = LineMonitor.for_platform(p)
        yield p, line, business
    finally:
        p.close()


def _line(p, line_id):
    with p.read() as s:
        return lines.get_line(p, s, SYSTEM, line_id)


def test_a_feed_delivery_moves_a_real_line_once_and_tells_the_borrower(watched) -> None:
    p, line, business = watched
    feed = ScriptedFeed()
    p.feeds = {DataScope.UTILITY: feed}
    # the history first: steady use, nothing to change
    feed.deliveries.append((business, electricity([1000, 1005, 1010], business_id=business)))
    first = run_line_refresh(p, TODAY)["feeds"]
    assert first["payloads_stored"] == 1 and first["businesses_changed"] == 1
    assert first["lines_reevaluated"] == 1 and first["lines_changed"] == 0
    assert _line(p, line["line_id"])["limit"] == line["limit"]
    # then a delta: last month's bill shows a 42% jump in electricity use
    jump = electricity([1010, 1434], business_id=business)
    feed.deliveries.append((business, {**jump, "records": jump["records"][-1:]}))
    second = run_line_refresh(p, TODAY)["feeds"]
    assert feed.asked[-1] == "1"  # resumed from the cursor it saved
    assert second["payloads_stored"] == 1 and second["lines_changed"] == 1
    assert second["changes_applied"] == 1 and second["changes_refused"] == {}
    shown = _line(p, line["line_id"])
    assert shown["limit"] == line["limit"] * 120 // 100
    [change] = [e for e in shown["events"] if e["kind"] == "limit_changed"]
    assert "electricity use rose" in change["reason"] and change["decision_id"].startswith("LD")
    with p.read() as s:
        told = [n for n in notifications_of(s, line["applicant_id"])
                if n["kind"] == "line_changed"]
    assert told and {n["context"]["decision_id"] for n in told} == {change["decision_id"]}
    # run again: nothing new delivered, nothing taken in, nothing changed or told twice
    third = run_line_refresh(p, TODAY)["feeds"]
    assert third["payloads_stored"] == 0 and third["businesses_changed"] == 0
    assert third["lines_reevaluated"] == 0
    assert len(_line(p, line["line_id"])["events"]) == len(shown["events"])


def test_a_delivery_taken_in_again_changes_nothing_twice(watched) -> None:
    """A run killed after taking the feed in but before re-evaluating leaves the cursor saved;
    a feed asked again from an older cursor delivers the same delta, which stores nothing."""
    p, line, business = watched
    feed = ScriptedFeed()
    p.feeds = {DataScope.UTILITY: feed}
    feed.deliveries.append((business, electricity([1000, 1010, 1434], business_id=business)))
    run_line_refresh(p, TODAY)
    events = len(_line(p, line["line_id"])["events"])
    feed.deliveries.append(feed.deliveries[0])  # the same delta delivered again
    again = run_line_refresh(p, TODAY)["feeds"]
    assert again["payloads_stored"] == 0 and again["unchanged"] == 1
    assert again["lines_reevaluated"] == 0
    assert len(_line(p, line["line_id"])["events"]) == events


def test_sources_without_a_feed_are_pulled_and_a_consent_limits_both(watched) -> None:
    p, line, business = watched
    feed, source = ScriptedFeed(), SalesSource()
    p.feeds = {DataScope.UTILITY: feed}
    p.connectors = ConnectorSet([source])
    feed.deliveries.append((business, electricity([1000, 1005, 1010], business_id=business)))
    feed.deliveries.append(("91110000MA00000000", electricity([5], business_id="91110000"
                                                               "MA00000000")))
    summary = run_line_refresh(p, TODAY)
    assert summary["feeds"]["payloads_stored"] == 1
    assert summary["feeds"]["not_monitored"] == 1  # a business nobody here monitors
    assert summary["pull"]["payloads_stored"] == 1 and source.asked == 1
    with p.unit() as s:  # the borrower withdraws the monitoring consent
        for consent in applicants.consents_of(p, s, SYSTEM, line["applicant_id"]):
            if consent["purpose"] == "post_loan_monitoring":
                applicants.revoke_consent(p, s, SYSTEM, line["applicant_id"],
                                          consent["consent_id"])
    feed.deliveries.append((business, electricity([1010, 2000], business_id=business)))
    after = run_line_refresh(p, TODAY)
    assert after["feeds"]["payloads_stored"] == 0 and after["feeds"]["not_monitored"] == 1
    assert source.asked == 1  # not asked about a business no longer monitored
    assert _line(p, line["line_id"])["limit"] == line["limit"]


def test_a_platform_without_lines_or_sources_has_nothing_to_refresh(watched) -> None:
    p, _, _ = watched
    nothing = run_line_refresh(p, TODAY)
    assert nothing["skipped"] == "no data sources configured" and nothing["lines_changed"] == 0
    p.line_monitor = None
    assert run_line_refresh(p, TODAY)["skipped"] is True


def test_a_known_business_is_resolved_without_opening_every_applicant(watched,
                                                                      monkeypatch) -> None:
    """Once a business's data is held, a page naming it reads that business's consents only:
    the run never opens every monitored applicant's sealed record (half a minute a run for a
    book of 200,000); a state whose applicant withdrew the consent names nobody."""
    from puhui.services import monitoring_data

    p, line, business = watched
    feed = ScriptedFeed()
    p.feeds = {DataScope.UTILITY: feed}
    feed.deliveries.append((business, electricity([1000, 1005, 1010], business_id=business)))
    assert run_line_refresh(p, TODAY)["feeds"]["payloads_stored"] == 1  # a new business

    def everyone(*args, **kwargs):
        raise AssertionError("every monitored applicant was read")

    monkeypatch.setattr(monitoring_data, "_monitoring", everyone)
    feed.deliveries.append((business, electricity([1010, 1020], business_id=business)))
    assert run_line_refresh(p, TODAY)["feeds"]["payloads_stored"] == 1
    with p.unit() as s:  # the consent withdrawn: the state names nobody monitored any more
        for consent in applicants.consents_of(p, s, SYSTEM, line["applicant_id"]):
            if consent["purpose"] == "post_loan_monitoring":
                applicants.revoke_consent(p, s, SYSTEM, line["applicant_id"],
                                          consent["consent_id"])
    feed.deliveries.append((business, electricity([1020, 1030], business_id=business)))
    withdrawn = run_line_refresh(p, TODAY)["feeds"]
    assert withdrawn["payloads_stored"] == 0 and withdrawn["not_monitored"] == 1
