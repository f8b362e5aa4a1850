"""Line changes in bulk (`services.lines.change_lines`) leave exactly what `change_line` and
the borrower's notice, one request at a time in a savepoint each (`apply_decision`), leave: the
same lines, events, ledger entries and chain, notices, answers and refusals; in a number of
statements that does not grow with the requests.

Two platforms are built alike (the same lines with the same history); one applies a mixed set
of requests one at a time, the other in one call; everything stored is then compared with the
ids each platform drew replaced by the line's place in the book."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from lines_samples import START, granted_line, signed_contract
from sqlalchemy import event, select

from puhui.errors import PuhuiError
from puhui.loans.events import Repayment
from puhui.services import lines as svc
from puhui.services import notifications
from puhui.services.access import SYSTEM
from puhui.services.checkpoints import trial_balance
from puhui.services.clock import ManualClock, at_business_date
from puhui.services.gateway import SandboxGateway
from puhui.services.notifications import Notice
from puhui.services.platform import Platform
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.line_repo import EVENTS, LINES
from puhui.store.notification_models import NotificationRow

#: The day the requests are made: line 7 has expired by then, line 6's loan was repaid in part.
TODAY = START + timedelta(days=30)
LINES_IN_BOOK = 8


def _book(p: Platform) -> list[dict]:
    """Eight lines with some history: line 0 already changed by a decision (its key is sent
    again), line 4 frozen by staff, line 6 drawn and partly repaid without the line being told
    (its next change restores the principal first), line 7 expiring before TODAY."""
    p.clock.set(at_business_date(START))
    made = [granted_line(p, seed=20 + k) for k in range(LINES_IN_BOOK - 1)]
    contract = signed_contract(p, seed=40)
    with p.unit() as s:
        made.append(svc.grant(p, s, SYSTEM, contract, key=f"grant:{contract}",
                              expires_on=START + timedelta(days=10)))
    with p.unit() as s:
        svc.change_line(p, s, SYSTEM, made[0]["line_id"], key="line-decision:LDold",
                        reason="an earlier decision", limit=11_000_000, decision_id="LDold")
        svc.change_line(p, s, SYSTEM, made[4]["line_id"], key="staff-freeze",
                        reason="staff froze it", freeze=True)
        drawn = svc.draw(p, s, SYSTEM, made[6]["line_id"], 3_000_000, key="d6")
    p.clock.set(at_business_date(START + timedelta(days=20)))
    with p.unit() as s:  # taken by the book alone: the line is not synchronised
        p.book.apply_in(s, [(drawn["loan_id"], Repayment("r6", START + timedelta(days=20),
                                                         1_500_000))])
    p.clock.set(at_business_date(TODAY))
    return made


def _notice(made: list[dict], k: int, decision_id: str, reason: str) -> Notice:
    return Notice(made[k]["applicant_id"], "line_changed", f"line-decision:{decision_id}",
                  "Your credit line has changed", reason,
                  {"line_id": made[k]["line_id"], "decision_id": decision_id})


def _requests(made: list[dict]) -> list[svc.LineChange]:
    """Raise, cut, re-price, freeze, unfreeze, a rate above the cap, a change after a
    repayment, a close of an expired line (staff: its events are told), two changes of one
    line, a key sent again (before the batch, and within it) and a key reused for another
    change."""

    def decided(k: int, n: int, reason: str, **change: Any) -> svc.LineChange:
        decision_id = f"LD{n:03d}"
        return svc.LineChange(made[k]["line_id"], f"line-decision:{decision_id}", reason,
                              decision_id=decision_id, notice=_notice(made, k, decision_id,
                                                                      reason), **change)

    return [
        decided(1, 1, "sales grew", limit=12_000_000),
        decided(2, 2, "repaid on time", annual_rate=Decimal("0.096")),
        decided(3, 3, "electricity collapsed", freeze=True),
        decided(4, 4, "data back to normal", freeze=False),
        decided(5, 5, "a price above the cap", annual_rate=Decimal("0.30")),
        decided(6, 6, "tax arrears", limit=6_000_000),
        svc.LineChange(made[7]["line_id"], "staff-close", "the borrower asked", close=True),
        decided(2, 7, "sales grew again", limit=15_000_000),
        svc.LineChange(made[0]["line_id"], "line-decision:LDold", "an earlier decision",
                       limit=11_000_000, decision_id="LDold",
                       notice=_notice(made, 0, "LDold", "an earlier decision")),
        svc.LineChange(made[0]["line_id"], "line-decision:LDold", "another change",
                       limit=9_000_000, decision_id="LDold"),
        svc.LineChange(made[1]["line_id"], "staff-cut", "staff cut it", limit=8_000_000),
        svc.LineChange(made[1]["line_id"], "staff-cut", "staff cut it", limit=8_000_000),
        svc.LineChange(made[1]["line_id"], "staff-cut", "staff cut it", limit=7_000_000),
        decided(3, 8, "a change of a frozen line's price", annual_rate=Decimal("0.15")),
        decided(7, 9, "a raise of an expired line", limit=20_000_000),
    ]


def _one_at_a_time(p: Platform, requests: list[svc.LineChange]) -> list[tuple]:
    """Each request as `reevaluation.apply_decision` applies a decision: `change_line` and
    the notice, in a savepoint."""
    out = []
    with p.unit() as s:
        for r in requests:
            try:
                with s.begin_nested():
                    answer = svc.change_line(p, s, SYSTEM, r.line_id, key=r.key,
                                             reason=r.reason, limit=r.limit,
                                             annual_rate=r.annual_rate, freeze=r.freeze,
                                             decision_id=r.decision_id, close=r.close)
                    if r.notice is not None:
                        n = r.notice
                        notifications.notify(p, s, applicant_id=n.applicant_id, kind=n.kind,
                                             key=n.key, subject=n.subject, body=n.body,
                                             context=n.context, loan_id=n.loan_id)
            except PuhuiError as exc:
                out.append((None, f"{type(exc).__name__}: {exc}"))
            else:
                out.append((answer, None))
    return out


def _in_bulk(p: Platform, requests: list[svc.LineChange]) -> list[tuple]:
    with p.unit() as s:
        return [(r.applied, r.why) for r in svc.change_lines(p, s, SYSTEM, requests)]


def _ids(p: Platform, made: list[dict]) -> dict[str, str]:
    """Every id a platform drew for the book -> its place in the book."""
    names: dict[str, str] = {}
    with p.read() as s:
        for k, line in enumerate(made):
            row = s.execute(select(LINES).where(LINES.c.line_id == line["line_id"])).one()
            for what in ("line_id", "applicant_id", "application_id", "contract_id",
                         "account_id"):
                names[getattr(row, what)] = f"<{what}{k}>"
            for loan_id in svc.repo.loans_of(s, line["line_id"]):
                names[loan_id] = f"<loan{k}>"
    return names


def _plain(value: Any, names: dict[str, str]) -> Any:
    """`value` with the platform's ids named by their place in the book."""
    if isinstance(value, str):
        return re.sub("|".join(map(re.escape, sorted(names, key=len, reverse=True))),
                      lambda m: names[m.group(0)], value)
    if isinstance(value, dict):
        return {_plain(k, names): _plain(v, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, names) for v in value]
    return value


def _stored(p: Platform, made: list[dict]) -> dict[str, Any]:
    """Lines, events, journal and notices as stored, ids named."""
    names = _ids(p, made)
    with p.read() as s:
        lines = [{k: v for k, v in r._mapping.items() if k not in ("created_at",)}
                 for r in s.execute(select(LINES).order_by(LINES.c.line_id))]
        events = [{k: v for k, v in r._mapping.items() if k not in ("id", "recorded_at")}
                  for r in s.execute(select(EVENTS).order_by(EVENTS.c.id))]
        journal = [(e.seq, e.booking_date, e.description, e.event_key, e.loan_id, e.reverses,
                    [(x.account, x.amount, x.currency, x.loan_id) for x in e.postings])
                   for e in LedgerRepository(s).entries()]
        notices = [{k: v for k, v in r._mapping.items()
                    if k not in ("notification_id", "recipient")}
                   for r in s.execute(select(NotificationRow.__table__))]
        views = svc.list_lines(p, s, SYSTEM, None, 100)
    return {"lines": sorted(_plain(lines, names), key=lambda x: x["line_id"]),
            "events": _plain(events, names), "journal": _plain(journal, names),
            "notices": sorted(_plain(notices, names), key=lambda n: (n["key"], n["channel"])),
            "views": sorted(_plain(views, names), key=lambda x: x["line_id"])}


def _sound(p: Platform) -> None:
    """The journal balances and verifies; the memorandum pair holds the lines' available."""
    with p.read() as s:
        assert all(v == 0 for v in trial_balance(s).values())
        memo = svc.commitments(s)
        shown = svc.list_lines(p, s, SYSTEM, None, 100)
        assert LedgerRepository(s).verify() > 0
    assert memo["9101"] == -memo["9102"] == sum(x["available"] for x in shown)
    p.book.verify()


def _platform(url: str) -> Platform:
    return Platform.open(url, clock=ManualClock(at_business_date(START)),
                         gateway=SandboxGateway())


@pytest.fixture
def twins(db_url: str, request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple]:
    """The same book on two databases of the same backend."""
    other = (f"sqlite:///{tmp_path / 'twin.sqlite'}" if db_url.startswith("sqlite")
             else request.getfixturevalue("pg_url"))
    p, q = _platform(db_url), _platform(other)
    try:
        yield (p, _book(p)), (q, _book(q))
    finally:
        p.close()
        q.close()


def test_changes_in_bulk_leave_what_one_at_a_time_leaves(twins) -> None:
    (p, made_p), (q, made_q) = twins
    assert _stored(p, made_p) == _stored(q, made_q)  # built alike
    bulk = _in_bulk(p, _requests(made_p))
    single = _one_at_a_time(q, _requests(made_q))
    assert _plain(bulk, _ids(p, made_p)) == _plain(single, _ids(q, made_q))
    ours, theirs = _stored(p, made_p), _stored(q, made_q)
    for part in ("lines", "events", "journal", "notices", "views"):
        assert ours[part] == theirs[part], part
    # what the mix did: each kind of change, the refusals and the replays
    why = [w for _, w in bulk]
    assert why[4].startswith("RateCapExceeded") and why[9].startswith("IdempotencyConflict")
    assert why[12].startswith("IdempotencyConflict")
    assert why[14].startswith("IllegalLineTransition")
    assert [w is None for w in why] == [True, True, True, True, False, True, True, True, True,
                                        False, True, True, False, True, False]
    assert bulk[8][0]["replayed"] and bulk[11][0]["replayed"] and not bulk[10][0]["replayed"]
    kinds = {(e["line_id"], e["kind"]) for e in ours["events"]
             if e["request_key"] != "d6" and not e["request_key"].startswith("grant:")}
    assert {("<line_id1>", "limit_changed"), ("<line_id2>", "price_changed"),
            ("<line_id3>", "frozen"), ("<line_id4>", "unfrozen"),
            ("<line_id6>", "principal_restored"), ("<line_id6>", "limit_changed"),
            ("<line_id7>", "expired"), ("<line_id7>", "closed")} <= kinds
    assert not any(e["line_id"] == "<line_id5>" and e["kind"] == "price_changed"
                   for e in ours["events"])
    told = {n["key"] for n in ours["notices"]}
    assert "line-decision:LD005" not in told and "line-decision:LD001" in told
    assert any(k.startswith("line:<line_id7>:") for k in told)  # the staff close, told
    _sound(p)
    _sound(q)


def test_a_refused_request_leaves_nothing_and_a_replay_nothing_new(twins) -> None:
    (p, made), _ = twins
    before = _stored(p, made)
    requests = _requests(made)
    refused = [requests[4], requests[9], requests[14]]
    assert [w for _, w in _in_bulk(p, refused)] == [
        w for _, w in _one_at_a_time(p, refused)]
    after = _stored(p, made)
    for part in ("lines", "events", "journal", "views"):
        assert after[part] == before[part], part
    first = _in_bulk(p, requests)
    stored = _stored(p, made)
    again = _in_bulk(p, requests)  # every key sent again: replayed or refused as before
    assert _stored(p, made) == stored
    assert [w for _, w in again][4] == [w for _, w in first][4]
    assert all(a is None or a["replayed"] for a, _ in again)
    _sound(p)


def test_the_statements_do_not_grow_with_the_requests(twins) -> None:
    (p, made), _ = twins
    counted: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        counted.append(statement)

    def statements(requests: list[svc.LineChange]) -> int:
        counted.clear()
        event.listen(p.engine, "before_cursor_execute", count)
        try:
            _in_bulk(p, requests)
        finally:
            event.remove(p.engine, "before_cursor_execute", count)
        return len(counted)

    def raise_(k: int, n: int) -> svc.LineChange:
        return svc.LineChange(made[k]["line_id"], f"raise-{n}", "raised",
                              limit=12_000_000 + 100_000 * n, decision_id=f"LDr{n}")

    few = statements([raise_(1, 1)])
    many = statements([raise_(k, 10 + k) for k in (1, 2, 3, 5)]
                      + [replace(raise_(k, 20 + k), limit=13_000_000 + k) for k in (1, 2)])
    assert many <= few + 2, (few, many)  # (+2: a first and a later journal append differ)
    assert many < 40


def _decisions(made: list[dict]) -> list[tuple[str, Any, str]]:
    """Line policy decisions (applicant, decision, decision id) as the refresh applies them:
    raise, re-price, freeze, unfreeze, a price above the cap, a cut after a repayment."""
    from puhui.lines.policy import LineDecision

    def decided(k: int, limit=None, rate=None, freeze=None) -> tuple[str, Any, str]:
        d = LineDecision(made[k]["line_id"], TODAY, "test", ("TEST",), (), limit, rate, limit,
                         rate, freeze, {}, (), (f"decision on line {k}",))
        return made[k]["applicant_id"], d, f"LDp{k}"

    return [decided(1, limit=12_500_000), decided(2, rate=Decimal("0.099")),
            decided(3, freeze=True), decided(4, freeze=False),
            decided(5, rate=Decimal("0.36")), decided(6, limit=5_000_000)]


def test_the_refresh_applies_decisions_in_bulk_as_one_at_a_time(twins) -> None:
    from puhui.services import reevaluation as rv

    (p, made_p), (q, made_q) = twins
    bulk = rv.LineMonitor.for_platform(p)
    single = rv.LineMonitor.for_platform(q, apply_line_changes=None)
    assert bulk.apply_line_changes is svc.change_lines
    with p.unit() as s:
        ours = rv.apply_decisions(p, s, bulk, _decisions(made_p))
    with q.unit() as s:
        theirs = rv.apply_decisions(q, s, single, _decisions(made_q))
    assert _plain(ours, _ids(p, made_p)) == _plain(theirs, _ids(q, made_q))
    assert [w is None for _, w in ours] == [True, True, True, True, False, True]
    assert _stored(p, made_p) == _stored(q, made_q)
    told = [n for n in _stored(p, made_p)["notices"] if n["kind"] == rv.NOTICE_KIND]
    assert {n["key"] for n in told} == {f"line-decision:LDp{k}" for k in (1, 2, 3, 4, 6)}
    _sound(p)


def test_a_bulk_call_that_fails_whole_leaves_nothing_and_each_applies_alone(twins) -> None:
    from puhui.errors import ConcurrentModification
    from puhui.services import reevaluation as rv

    (p, made_p), (q, made_q) = twins

    def half_then_fail(p, session, actor, requests):
        svc.change_lines(p, session, actor, requests)  # written, then undone
        raise ConcurrentModification("a line moved under the bulk change")

    failing = rv.LineMonitor.for_platform(p, apply_line_changes=half_then_fail)
    with p.unit() as s:
        ours = rv.apply_decisions(p, s, failing, _decisions(made_p))
    with q.unit() as s:
        theirs = rv.apply_decisions(q, s, rv.LineMonitor.for_platform(q),
                                    _decisions(made_q))
    assert _plain(ours, _ids(p, made_p)) == _plain(theirs, _ids(q, made_q))
    assert _stored(p, made_p) == _stored(q, made_q)
    # a monitor given its own notify or change does not take the bulk form behind its back
    assert rv.LineMonitor.for_platform(p, notify=lambda *a, **k: None).apply_line_changes \
        is None


def test_notices_in_bulk_are_capped_and_deduplicated_as_one_at_a_time(twins) -> None:
    (p, made_p), (q, made_q) = twins

    def notices(made: list[dict]) -> list[Notice]:
        a, b = made[1]["applicant_id"], made[2]["applicant_id"]
        return [Notice(a, "reminder", "rem-1", "due soon", "pay"),
                Notice(a, "line_changed", "chg-1", "changed", "raised", {"n": Decimal("1.5")}),
                Notice(a, "reminder.sms", "rem-2", "due soon", "pay"),
                Notice(b, "reminder", "rem-3", "due soon", "pay"),
                Notice(a, "reminder", "rem-4", "due soon", "pay"),
                Notice(a, "reminder", "rem-1", "due soon", "again"),
                Notice(a, "collection", "col-1", "overdue", "pay now")]

    with p.unit() as s:
        notifications.notify_many(p, s, notices(made_p))
    with q.unit() as s:
        for n in notices(made_q):
            notifications.notify(q, s, applicant_id=n.applicant_id, kind=n.kind, key=n.key,
                                 subject=n.subject, body=n.body, context=n.context)
    ours, theirs = _stored(p, made_p)["notices"], _stored(q, made_q)["notices"]
    assert ours == theirs
    assert {n["status"] for n in ours if n["key"] in ("rem-4", "col-1")} == {"capped"}
    with p.unit() as s, pytest.raises(notifications.InvalidRequest):
        notifications.notify_many(p, s, [Notice(made_p[1]["applicant_id"], "x", "k", "s", "")])
