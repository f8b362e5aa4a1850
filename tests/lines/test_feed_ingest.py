"""Monitoring data taken in from change feeds and pushes, kept merged, and read back
(`services.monitoring_data`), on SQLite and PostgreSQL: pages and cursors (a run killed between
pages or inside one resumes with nothing lost and nothing doubled), consent (a business nobody
monitors is skipped), refusals (one bad delta does not stop the page), `load_sources` equal to
merging every stored payload again, a damaged state rebuilt, and the synthetic world's feed
delivering each record once and the state following the world day after day."""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from puhui.lines.signals import RECORD_KEYS, merge_payloads
from puhui.parties.consent import DataScope
from puhui.parties.synthetic import small_business
from puhui.risk.data.connectors import Received
from puhui.risk.data.feeds import FeedChange, FeedPage
from puhui.risk.data.payload import SOURCES, parse_payload
from puhui.risk.data.resilience import SourcePolicy, SourceSettings
from puhui.risk.data.world import SyntheticWorld
from puhui.risk.errors import SourceFailed
from puhui.services import applicants as svc
from puhui.services import monitoring_data as md
from puhui.services import reevaluation as rv
from puhui.services.data import canonical_bytes, payload_values, received_bytes
from puhui.services.providers import WorldFeed, world_business, world_feeds
from puhui.store import line_decision_repo, monitoring_repo
from puhui.store.monitoring_models import MonitoringBaseRow
from puhui.store.platform_models import ConsentLogRow
from puhui.store.risk_models import SourcePayloadRow

from line_policy_samples import TODAY
from line_service_samples import ADMIN

SCOPES = ("utility", "sales", "tax", "bank_statement")
WORLD = SyntheticWorld(40, seed=5, start=date(2024, 1, 1), months=36)


def _applicants(p, n: int, seed: int = 0, scopes=SCOPES) -> dict[str, str]:
    """n applicants with a monitoring consent: business identity -> applicant id."""
    out = {}
    with p.unit() as session:
        for i in range(n):
            business = small_business(random.Random(seed * 1000 + i), TODAY)
            a = svc.register_applicant(p, session, ADMIN, business)["applicant_id"]
            svc.grant_consent(p, session, ADMIN, a, "post_loan_monitoring", list(scopes))
            out[svc.business_identity(session, a)] = a
    return out


def _reference(session, applicant_id: str, today: date) -> dict[DataScope, Any]:
    """What `applicant_data` computed before the states: every accepted payload in the window
    read back, merged with `merge_payloads` and validated."""
    since = md.window_start(today)
    rows = monitoring_repo.payloads_of(session, [applicant_id],
                                       [s.value for s in SOURCES], since)
    by_scope: dict[DataScope, list[dict]] = defaultdict(list)
    for row in rows:
        by_scope[DataScope(row.scope)].append(json.loads(received_bytes(row)))
    out = {}
    for scope, payloads in by_scope.items():
        merged = merge_payloads(scope, payloads)
        if str(merged.get("as_of", "")) <= today.isoformat():
            merged["as_of"] = today.isoformat()
        out[scope] = parse_payload(scope, merged)
    return out


def _count(p, table, **where) -> int:
    with p.read() as session:
        query = select(func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(table.c[name] == value)
        return session.execute(query).scalar_one()


class ListFeed:
    """A feed of scripted pages (each a list of (business id, payload)); the cursor is the
    index of the next page."""

    def __init__(self, scope: DataScope, pages: list[list[tuple[str, dict]]]) -> None:
        self.scope, self.pages, self.asked = scope, pages, []

    def changes(self, since: str | None, limit: int, as_of: date) -> FeedPage:
        self.asked.append(since)
        i = 0 if since is None else int(since)
        if i >= len(self.pages):
            return FeedPage([], str(i), False)
        return FeedPage([FeedChange(b, Received(canonical_bytes(pl), pl))
                         for b, pl in self.pages[i]], str(i + 1), i + 1 < len(self.pages))


class Killed(BaseException):
    """The job's process killed (not an error of the feed: nothing catches it)."""


class Failing:
    """A feed that raises on its n-th page asked for (a crash of the job, not of the feed)."""

    def __init__(self, feed: Any, n: int) -> None:
        self.feed, self.n, self.scope = feed, n, feed.scope

    def changes(self, since, limit, as_of):
        self.n -= 1
        if self.n == 0:
            raise Killed("killed")
        return self.feed.changes(since, limit, as_of)


class Flaky:
    """A feed whose first `failures` pages asked for fail with `error`."""

    def __init__(self, feed: Any, failures: int, error: Exception) -> None:
        self.feed, self.failures, self.error, self.scope = feed, failures, error, feed.scope
        self.asked = 0

    def changes(self, since, limit, as_of):
        self.asked += 1
        if self.asked <= self.failures:
            raise self.error
        return self.feed.changes(since, limit, as_of)


def _bills(business: str, as_of: date, months: list[int], usage: int = 1000,
           paid: bool = True) -> dict:
    records = []
    for k in months:  # k months before as_of's month
        month = date(as_of.year, as_of.month, 1)
        for _ in range(k):
            month = (month - timedelta(days=1)).replace(day=1)
        billed = (month + timedelta(days=40)).replace(day=5)
        if billed > as_of:
            continue
        record = {"utility": "electricity", "period_month": month.strftime("%Y-%m"),
                  "usage": usage + k, "amount_fen": (usage + k) * 80,
                  "billed_on": billed.isoformat(),
                  "due_on": (billed + timedelta(days=10)).isoformat()}
        if paid and billed + timedelta(days=2) <= as_of:
            record["paid_on"] = (billed + timedelta(days=2)).isoformat()
        records.append(record)
    return {"business_id": business, "as_of": as_of.isoformat(), "records": records}


def _orders(business: str, as_of: date, ids: list[int], amount: int = 500) -> dict:
    return {"business_id": business, "as_of": as_of.isoformat(), "records": [
        {"order_id": f"O{i}", "ordered_on": (as_of - timedelta(days=i % 30)).isoformat(),
         "channel": "pos", "amount_fen": amount + i, "customer_hash": f"{i % 5:032x}",
         "refunded": False, "refunded_on": None} for i in ids]}


# -- pages and cursors -------------------------------------------------------------------------------
def test_a_run_killed_between_or_inside_pages_resumes_with_nothing_lost_or_doubled(
        monitored, monkeypatch) -> None:
    p = monitored
    ids = _applicants(p, 5)
    feeds = world_feeds(WORLD, set(ids), [DataScope.UTILITY])
    with pytest.raises(Killed):  # the job dies asking for its second page
        md.ingest_feeds(p, {DataScope.UTILITY: Failing(feeds[DataScope.UTILITY], 2)}, TODAY,
                        page_size=2)
    with p.read() as session:
        assert monitoring_repo.cursor(session, "utility") == f"|{TODAY}|{sorted(ids)[1]}"
    assert _count(p, SourcePayloadRow.__table__) == 2  # the first page, committed

    calls = {"n": 0}
    save = monitoring_repo.save_cursor

    def dies_on_the_second_commit(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed inside the page's transaction")
        return save(*args, **kw)

    monkeypatch.setattr(monitoring_repo, "save_cursor", dies_on_the_second_commit)
    with pytest.raises(RuntimeError):  # the third business taken in, the fourth rolled back
        md.ingest_feeds(p, feeds, TODAY, page_size=1)
    monkeypatch.setattr(monitoring_repo, "save_cursor", save)
    assert _count(p, SourcePayloadRow.__table__) == 3
    run = md.ingest_feeds(p, feeds, TODAY, page_size=2)
    assert run.pages == 1 and run.payloads_stored == 2 and run.refused == {}
    assert run.changed == sorted(ids[b] for b in sorted(ids)[3:])
    # one payload per business, each delivered once: nothing lost, nothing doubled
    with p.read() as session:
        for business, a in ids.items():
            rows = monitoring_repo.payloads_of(session, [a], ["utility"])
            assert len(rows) == 1, business
        got = md.load_sources(session, list(ids.values()), TODAY)
        for business, a in ids.items():
            want = WORLD.payload(DataScope.UTILITY, world_business(WORLD, business), TODAY)
            assert got[a][DataScope.UTILITY] == parse_payload(
                "utility", {**want, "business_id": business})
            assert got[a] == _reference(session, a, TODAY)


def test_a_page_delivered_again_is_merged_again_to_the_same_state(monitored) -> None:
    p = monitored
    ids = _applicants(p, 3)
    feeds = world_feeds(WORLD, set(ids), [DataScope.SALES, DataScope.UTILITY])
    first_day = TODAY - timedelta(days=20)
    md.ingest_feeds(p, feeds, first_day)
    with p.read() as session:
        day_one = {s: monitoring_repo.cursor(session, s.value) for s in feeds}
    run = md.ingest_feeds(p, feeds, TODAY)
    assert run.pages == 2 and run.payloads_stored > 0
    with p.read() as session:
        before = md.load_sources(session, list(ids.values()), TODAY)
    stored = _count(p, SourcePayloadRow.__table__)
    with p.unit() as session:  # the feed asked again from yesterday's cursor
        for scope, cursor in day_one.items():
            monitoring_repo.save_cursor(session, scope.value, cursor, p.clock.now())
    again = md.ingest_feeds(p, feeds, TODAY)
    assert again.payloads_stored == 0 and again.unchanged == run.payloads_stored
    assert _count(p, SourcePayloadRow.__table__) == stored
    with p.read() as session:
        assert md.load_sources(session, list(ids.values()), TODAY) == before


def test_the_tail_is_kept_as_one_merged_segment_until_it_is_compacted(monitored) -> None:
    """A delivery a run for one business: its tail stays one segment that says how many
    deliveries it merges; past `TAIL_SEGMENTS` the tail is compacted into the base; and the
    data read back is always the merge of every payload (orders delivered again included)."""
    from puhui.risk.data import merged_state as ms

    p = monitored
    ids = _applicants(p, 1, seed=4)
    business, a = next(iter(ids.items()))
    pages = [[(business, _orders(business, TODAY, [k, k + 1, (k * 7) % 40]))]
             for k in range(ms.TAIL_SEGMENTS + 4)]
    held = []
    for k in range(len(pages)):
        feed = ListFeed(DataScope.SALES, pages[:k + 1])  # up to this run's page
        run = md.ingest_feeds(p, {DataScope.SALES: feed}, TODAY)
        assert run.pages == 1
        assert run.refused == {} and run.failed == {}
        with p.read() as session:
            (row,) = monitoring_repo.states(session, [a], ["sales"], base=False)
            held.append(ms.tail_deliveries(row.tail))
            assert len(ms.tail_segments(DataScope.SALES, row.tail)) == (1 if held[-1] else 0)
            if k % 6 == 0 or k == len(pages) - 1:
                got = md.load_sources(session, [a], TODAY)[a][DataScope.SALES]
                assert got == _reference(session, a, TODAY)[DataScope.SALES]
    # the first delivery builds the state (no tail); then one more a run until compacted
    assert held[:3] == [0, 1, 2] and max(held) == ms.TAIL_SEGMENTS
    assert held[ms.TAIL_SEGMENTS + 1] == 0 and held[-1] == 2


# -- consent and refusals ------------------------------------------------------------------------------
def test_a_business_without_a_monitoring_consent_in_force_is_skipped_and_logged(
        monitored, caplog) -> None:
    p = monitored
    ids = _applicants(p, 1)
    [(watched, watched_id)] = ids.items()
    with p.unit() as session:
        others = []
        for seed, purpose in ((71, "credit_assessment"), (72, "post_loan_monitoring")):
            a = svc.register_applicant(p, session, ADMIN,
                                       small_business(random.Random(seed), TODAY))["applicant_id"]
            consent = svc.grant_consent(p, session, ADMIN, a, purpose, ["utility"])
            if purpose == "post_loan_monitoring":
                svc.revoke_consent(p, session, ADMIN, a, consent["consent_id"])
            others.append((svc.business_identity(session, a), a))
    pages = [[(b, _bills(b, TODAY, [1, 2])) for b in [watched, *(b for b, _ in others),
                                                         "91110000UNKNOWN001"]]]
    with caplog.at_level(logging.INFO, logger="puhui.monitoring"):
        run = md.ingest_feeds(p, {DataScope.UTILITY: ListFeed(DataScope.UTILITY, pages)}, TODAY)
    assert run.skipped == 3 and run.payloads_stored == 1 and run.changed == [watched_id]
    assert "3 change(s) of businesses without a monitoring consent in force skipped" in \
        caplog.text
    for _, a in others:
        assert _count(p, SourcePayloadRow.__table__, applicant_id=a) == 0
    assert _count(p, ConsentLogRow.__table__, applicant_id=watched_id, action="used",
                  scope="utility") == 1


def test_an_invalid_delta_is_refused_and_the_others_are_taken_in(monitored) -> None:
    p = monitored
    ids = _applicants(p, 4)
    a, b, c, d = sorted(ids)
    bad = _bills(b, TODAY, [1])
    bad["records"][0]["usage"] = "a lot"
    pages = [[(a, _bills(a, TODAY, [1, 2])), (b, bad), (c, _bills(d, TODAY, [1])),
              (d, _bills(d, TODAY + timedelta(days=1), [1]))]]
    feed = ListFeed(DataScope.UTILITY, pages)
    run = md.ingest_feeds(p, {DataScope.UTILITY: feed}, TODAY)
    assert set(run.refused) == {f"{b}:utility", f"{c}:utility", f"{d}:utility"}
    assert "usage" in run.refused[f"{b}:utility"]
    assert "another business" in run.refused[f"{c}:utility"]
    assert "after today" in run.refused[f"{d}:utility"]
    assert run.changed == [ids[a]] and run.payloads_stored == 1
    assert _count(p, SourcePayloadRow.__table__) == 1
    with p.read() as session:
        assert monitoring_repo.cursor(session, "utility") == "1"
        got = md.load_sources(session, [ids[a], ids[b]], TODAY)
    assert got[ids[b]] == {} and got[ids[a]][DataScope.UTILITY].record_count == 2


# -- equivalence ---------------------------------------------------------------------------------------
def test_load_sources_is_the_merge_of_every_payload_after_pushes_feeds_and_old_payloads(
        monitored) -> None:
    p = monitored
    ids = _applicants(p, 4, seed=3)
    rng = random.Random(11)
    consents = {}
    with p.read() as session:
        for a in ids.values():
            consents[a] = {s: c for c in svc.consents(session, a) for s in c.scopes}
    # payloads stored before the states existed (an application's): no state for them
    with p.unit() as session:
        for business, a in ids.items():
            for scope, payload in (("utility", _bills(business, TODAY - timedelta(days=500),
                                                      list(range(12)))),
                                   ("sales", _orders(business, TODAY - timedelta(days=480),
                                                     list(range(0, 40, 3))))):
                consent = consents[a][DataScope(scope)]
                line_decision_repo.add_payload(session, {
                    "applicant_id": a, "application_id": None, "scope": scope,
                    "consent_id": consent.consent_id, "fetched_at": p.clock.now(),
                    "as_of": date.fromisoformat(payload["as_of"]), "status": "accepted",
                    "error": None, **payload_values(canonical_bytes(payload))})
    # then pushes and feed deltas, days in and out of order, keys overlapping
    for step in range(6):
        day = TODAY - timedelta(days=rng.choice([0, 3, 40, 90, 200, 420, 460]))
        pages = []
        for business, a in ids.items():
            orders = _orders(business, day, rng.sample(range(60), 5), amount=rng.randint(1, 900))
            bills = _bills(business, day, rng.sample(range(10), 3), usage=rng.randint(1, 5000),
                           paid=rng.random() < 0.5)
            if step % 2:
                with p.unit() as session:
                    rv.push_data(p, session, ADMIN, a, "sales", orders)
                    rv.push_data(p, session, ADMIN, a, "utility", bills)
            else:
                pages.append((business, bills))
                with p.unit() as session:
                    rv.push_data(p, session, ADMIN, a, "sales", orders)
        if pages:
            feed = ListFeed(DataScope.UTILITY, [pages])
            with p.unit() as session:
                monitoring_repo.save_cursor(session, "utility", "0", p.clock.now())
            assert md.ingest_feeds(p, {DataScope.UTILITY: feed}, TODAY).refused == {}
    apps = list(ids.values())
    # later days move the window past the oldest payloads; then back to today
    for today in (TODAY, TODAY + timedelta(days=40), TODAY + timedelta(days=130), TODAY,
                  TODAY + timedelta(days=130)):
        with p.unit() as session:
            got = md.load_sources(session, apps, today)
            for a in apps:
                want = _reference(session, a, today)
                assert got[a] == want, (a, today)
                data, hashes, problems = rv.applicant_data(session, a, today)
                assert data == want and problems == []
    with p.read() as session:
        assert monitoring_repo.complete(session, apps) == set(apps)


def test_a_damaged_state_is_rebuilt_from_the_payloads(monitored, caplog) -> None:
    p = monitored
    ids = _applicants(p, 2)
    md.ingest_feeds(p, world_feeds(WORLD, set(ids), [DataScope.SALES]), TODAY)
    a = sorted(ids.values())[0]
    with p.unit() as session:
        # the base overwritten behind its checksum's back
        base = MonitoringBaseRow.__table__
        session.execute(update(base).where(base.c.applicant_id == a, base.c.scope == "sales")
                        .values(blob=b"\x28\xb5\x2f\xfd garbage"))
    with caplog.at_level(logging.WARNING, logger="puhui.monitoring"):
        with p.unit() as session:
            got = md.load_sources(session, [a], TODAY)[a]
            assert got == _reference(session, a, TODAY) and DataScope.SALES in got
    assert "does not match its sha256" in caplog.text
    with p.read() as session:
        [row] = monitoring_repo.states(session, [a], ["sales"])
        assert md._base_of(row) is not None  # saved again, whole


# -- the synthetic world's feed ------------------------------------------------------------------------
def test_the_world_feed_delivers_each_record_once_and_the_state_follows_the_world(
        monitored) -> None:
    p = monitored
    ids = _applicants(p, 3, seed=9)
    scopes = [DataScope.SALES, DataScope.UTILITY, DataScope.TAX, DataScope.BANK_STATEMENT]
    delivered: dict[tuple[str, DataScope], list[dict]] = defaultdict(list)

    class Watch:
        def __init__(self, feed: WorldFeed) -> None:
            self.feed, self.scope = feed, feed.scope

        def changes(self, since, limit, as_of):
            page = self.feed.changes(since, limit, as_of)
            for change in page.changes:
                delivered[(change.business_id, self.scope)] += change.received.payload["records"]
            return page

    feeds = {s: Watch(f) for s, f in world_feeds(WORLD, lambda: set(ids), scopes).items()}
    first = TODAY - timedelta(days=45)
    day = first
    while day <= TODAY:  # the consents stand from today: the clock stays there
        run = md.ingest_feeds(p, feeds, day, page_size=2)
        assert run.refused == {} and run.failed == {}
        day += timedelta(days=5)
    last = day - timedelta(days=5)
    with p.unit() as session:
        got = md.load_sources(session, list(ids.values()), last)
    for business, a in ids.items():
        for scope in scopes:
            world_id = world_business(WORLD, business)
            try:
                want = WORLD.payload(scope, world_id, last)["records"]
            except Exception:  # the world has no such source for this business
                assert scope not in got[a]
                continue
            fields = RECORD_KEYS[scope]
            key = lambda r: tuple(str(r.get(f)) for f in fields)  # noqa: E731
            sent = delivered[(business, scope)]
            # each version of a record once: whole history first, then the new and changed
            assert len({json.dumps(r, sort_keys=True) for r in sent}) == len(sent)
            history = WORLD.payload(scope, world_id, first)["records"]
            assert sent[:len(history)] == history
            assert {key(r) for r in sent} == {key(r) for r in want}
            # the state is the world as of the last day (as validated records)
            as_world = parse_payload(scope, {"business_id": business,
                                             "as_of": last.isoformat(), "records": want})
            mine = got[a][scope]
            assert sorted(map(repr, mine.records)) == sorted(map(repr, as_world.records))


def test_the_first_payload_taken_in_builds_every_state_of_the_old_payloads(monitored) -> None:
    """Payloads stored before the states (an application's), then the same answer again: it
    stores nothing, yet the applicant's states are built and saved, every scope, so reading
    later needs no write (a read-only session reads them as they are)."""
    p = monitored
    [(business, a)] = _applicants(p, 1, seed=21).items()
    old = {"utility": _bills(business, TODAY - timedelta(days=30), [1, 2, 3]),
           "sales": _orders(business, TODAY - timedelta(days=30), [1, 2, 3])}
    with p.unit() as session:
        consent = svc.consents(session, a)[0]
        for scope, payload in old.items():
            line_decision_repo.add_payload(session, {
                "applicant_id": a, "application_id": None, "scope": scope,
                "consent_id": consent.consent_id, "fetched_at": p.clock.now(),
                "as_of": date.fromisoformat(payload["as_of"]), "status": "accepted",
                "error": None, **payload_values(canonical_bytes(payload))})
    with p.unit() as session:
        out = rv.push_data(p, session, ADMIN, a, "utility", old["utility"])
    assert not out["stored"]
    with p.read() as session:
        assert {r.scope for r in monitoring_repo.states(session, [a])} == {"utility", "sales"}
        assert monitoring_repo.complete(session, [a]) == {a}
        assert md.load_sources(session, [a], TODAY)[a] == _reference(session, a, TODAY)
    with p.unit() as session:  # an application's new payloads make them stale: dropped
        monitoring_repo.drop_states(session, [a], ["sales"])
        assert md.load_sources(session, [a], TODAY)[a] == _reference(session, a, TODAY)


def test_a_state_whose_base_is_gone_is_rebuilt_from_the_payloads(monitored, caplog) -> None:
    p = monitored
    ids = _applicants(p, 2, seed=4)
    md.ingest_feeds(p, world_feeds(WORLD, set(ids), [DataScope.SALES]), TODAY)
    a = sorted(ids.values())[0]
    with p.unit() as session:
        base = MonitoringBaseRow.__table__
        session.execute(delete(base).where(base.c.applicant_id == a, base.c.scope == "sales"))
    with caplog.at_level(logging.WARNING, logger="puhui.monitoring"):
        with p.unit() as session:
            got = md.load_sources(session, [a], TODAY)[a]
            assert got == _reference(session, a, TODAY) and DataScope.SALES in got
    assert "has lost its base" in caplog.text
    with p.read() as session:
        [row] = monitoring_repo.states(session, [a], ["sales"])
        assert row.blob is not None and md._base_of(row) is not None


# -- a feed that fails: retries, backoff and its circuit breaker --------------------------------------
def _policy(**over: Any) -> SourceSettings:
    return SourceSettings(default=SourcePolicy(**{"retries": 2, "backoff": 0.5,
                                                  "backoff_max": 4.0, **over}))


def test_a_transient_failure_is_asked_again_after_a_backoff(monitored) -> None:
    p = monitored
    ids = _applicants(p, 2, seed=6)
    feed = Flaky(world_feeds(WORLD, set(ids), [DataScope.UTILITY])[DataScope.UTILITY], 2,
                 SourceFailed("utility feed", "answered 503", transient=True))
    waits: list[float] = []
    run = md.ingest_feeds(p, {DataScope.UTILITY: feed}, TODAY, settings=_policy(),
                          sleep=waits.append)
    assert run.failed == {} and run.payloads_stored == 2 and feed.asked == 3
    # exponential with jitter: the n-th wait between half and all of 0.5 x 2^(n-1) seconds
    assert len(waits) == 2 and 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0


def test_a_feed_that_keeps_failing_is_given_up_and_its_circuit_opens(monitored) -> None:
    p = monitored
    ids = _applicants(p, 2, seed=7)
    inner = world_feeds(WORLD, set(ids), [DataScope.UTILITY])[DataScope.UTILITY]
    down = Flaky(inner, 10**6, SourceFailed("utility feed", "no answer", transient=True))
    settings = _policy(retries=1, breaker_failures=3, breaker_cooldown=600)
    first = md.ingest_feeds(p, {DataScope.UTILITY: down}, TODAY, settings=settings,
                            sleep=lambda s: None)
    assert down.asked == 2 and "(2 attempts)" in first.failed["utility"]
    assert first.payloads_stored == 0
    second = md.ingest_feeds(p, {DataScope.UTILITY: down}, TODAY, settings=settings,
                             sleep=lambda s: None)  # the third failure opens the circuit
    assert down.asked == 3 and "circuit open" in second.failed["utility"]
    third = md.ingest_feeds(p, {DataScope.UTILITY: down}, TODAY, settings=settings,
                            sleep=lambda s: None)
    assert down.asked == 3 and "circuit open" in third.failed["utility"]  # not asked at all
    with p.read() as session:
        assert monitoring_repo.cursor(session, "utility") is None  # nothing taken in


def test_a_permanent_failure_or_a_broken_feed_is_not_asked_again(monitored) -> None:
    p = monitored
    ids = _applicants(p, 2, seed=8)
    inner = world_feeds(WORLD, set(ids), [DataScope.UTILITY])[DataScope.UTILITY]
    for error, says in ((SourceFailed("utility feed", "answered 400", transient=False),
                         "answered 400"), (ValueError("a bug in the feed"), "ValueError")):
        feed = Flaky(inner, 1, error)
        run = md.ingest_feeds(p, {DataScope.UTILITY: feed}, TODAY, settings=_policy(),
                              sleep=lambda s: pytest.fail("no retry for a permanent failure"))
        assert feed.asked == 1 and says in run.failed["utility"]

