"""Credit lines through the services, on SQLite and PostgreSQL: grant, draw, restore, change,
replays, the memorandum ledger, and two draws racing for the last available amount."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from puhui.errors import (
    DrawExceedsAvailable,
    IdempotencyConflict,
    InvalidEvent,
    LineNotDrawable,
    RateCapExceeded,
)
from puhui.lines.line import CreditLine, LineStatus
from puhui.loans.product import RateCap
from puhui.services import lines as svc
from puhui.services import loans
from puhui.services.access import SYSTEM, Perm, Principal, Role
from puhui.services.checkpoints import trial_balance
from puhui.services.clock import ManualClock, at_business_date
from puhui.services.errors import AccessDenied, AlreadyDone, NotFound
from puhui.services.gateway import SandboxGateway
from puhui.services.platform import Platform

from lines_samples import START, granted_line, signed_contract

BORROWER_OF = lambda applicant_id: Principal("kb", Role.BORROWER,  # noqa: E731
                                             frozenset({Perm.READ, Perm.ACCEPT, Perm.REPAY}),
                                             applicant_id)


def _book_is_sound(p: Platform) -> None:
    """Every entry balances, and the undrawn commitment is the sum of the lines' available."""
    with p.read() as s:
        assert all(v == 0 for v in trial_balance(s).values())
        memo = svc.commitments(s)
        shown = svc.list_lines(p, s, SYSTEM, None, 200)
    assert memo["9101"] == -memo["9102"] == sum(x["available"] for x in shown)
    assert all(x["drawn"] == sum(l["principal_unrepaid"] for l in x["loans"]) for x in shown)
    p.book.verify()  # the journal's and the loan events' hash chains
    for loan_id in (loan["loan_id"] for x in shown for loan in x["loans"]):
        with p.read() as s:
            account = p.book.load_in(s, loan_id)
        ledger = {code: amount for (code, _), amount in p.book.sub_ledger(loan_id).items()
                  if code in ("1301", "1302", "1303", "1304", "2241")}
        assert account.balances() == ledger, loan_id  # each drawn loan reconciles


def test_grant_draw_repay_and_the_book_stays_sound(platform) -> None:
    p = platform
    line = granted_line(p)
    _book_is_sound(p)
    with p.unit() as s:
        first = svc.draw(p, s, SYSTEM, line["line_id"], 3_000_000, key="d1")
        second = svc.draw(p, s, SYSTEM, line["line_id"], 1_000_000, key="d2")
    assert first["loan_id"] != second["loan_id"]
    assert second["line"]["drawn"] == 4_000_000
    _book_is_sound(p)
    p.clock.set(at_business_date(START + timedelta(days=5)))
    with p.unit() as s:
        loans.repay(p, s, SYSTEM, first["loan_id"], 2_000_000, key="r1")
    with p.read() as s:
        shown = svc.get_line(p, s, SYSTEM, line["line_id"])
    assert 2_000_000 > shown["drawn"] - 1_000_000 > 1_000_000  # interest was paid first
    assert shown["available"] == shown["limit"] - shown["drawn"]
    _book_is_sound(p)
    with p.read() as s:
        [stored] = svc.lines_of(s, shown["applicant_id"])
    assert isinstance(stored, CreditLine) and stored.drawn == shown["drawn"]
    assert stored.available == shown["available"] and stored.version == 4


def test_a_replayed_draw_or_change_changes_nothing(platform) -> None:
    p = platform
    line = granted_line(p)
    with p.unit() as s:
        drawn = svc.draw(p, s, SYSTEM, line["line_id"], 2_000_000, key="same")
        changed = svc.change_line(p, s, SYSTEM, line["line_id"], key="c", reason="good payer",
                                  annual_rate=Decimal("0.1"), freeze=True)
    with p.unit() as s:
        again = svc.draw(p, s, SYSTEM, line["line_id"], 2_000_000, key="same")
        replay = svc.change_line(p, s, SYSTEM, line["line_id"], key="c", reason="good payer",
                                 annual_rate=Decimal("0.1"), freeze=True)
        with pytest.raises(IdempotencyConflict):
            svc.draw(p, s, SYSTEM, line["line_id"], 2_000_001, key="same")
        with pytest.raises(IdempotencyConflict):
            svc.change_line(p, s, SYSTEM, line["line_id"], key="c", reason="x", limit=1)
    assert again["loan_id"] == drawn["loan_id"] and again["replayed"]
    assert replay["replayed"] and replay["changes"] == changed["changes"]
    with p.read() as s:
        events = svc.events_of(s, SYSTEM, line["line_id"])
    assert [e.kind.value for e in events] == ["granted", "draw", "price_changed", "frozen"]
    assert len(p.gateway.transfers) == 1
    _book_is_sound(p)
    # the borrower is told of each change once (not of their own draw), however often asked
    from puhui.services.notifications import notifications_of

    with p.read() as s:
        told = notifications_of(s, line["applicant_id"])
    assert {(n["kind"], n["context"]["event"]) for n in told} == {
        ("line.changed", e.kind.value) for e in events if e.kind.value != "draw"}
    assert len(told) == 3 * len({n["channel"] for n in told})  # one per change and channel
    frozen = next(n for n in told if n["context"]["event"] == "frozen")
    assert "冻结" in frozen["subject"] and "good payer" in frozen["body"]


def test_refused_draws_change_nothing(platform) -> None:
    p = platform
    line = granted_line(p)
    with p.unit() as s:
        svc.draw(p, s, SYSTEM, line["line_id"], line["limit"] - 500_000, key="d1")
    for amount, error in ((500_001, DrawExceedsAvailable),):
        with pytest.raises(error), p.unit() as s:
            svc.draw(p, s, SYSTEM, line["line_id"], amount, key="too much")
    with p.unit() as s:
        svc.change_line(p, s, SYSTEM, line["line_id"], key="f", reason="arrears", freeze=True)
    with pytest.raises(LineNotDrawable), p.unit() as s:
        svc.draw(p, s, SYSTEM, line["line_id"], 100_000, key="frozen")
    with p.read() as s:
        shown = svc.get_line(p, s, SYSTEM, line["line_id"])
    assert shown["drawn"] == line["limit"] - 500_000 and len(shown["loans"]) == 1
    assert [e["kind"] for e in shown["events"]] == ["granted", "draw", "frozen"]
    assert len(p.gateway.transfers) == 1
    _book_is_sound(p)


def test_a_line_expires_and_is_not_drawn_after(platform) -> None:
    p = platform
    line = granted_line(p)
    p.clock.set(at_business_date(START + timedelta(days=180)))
    with pytest.raises(LineNotDrawable), p.unit() as s:
        svc.draw(p, s, SYSTEM, line["line_id"], 100_000, key="late")
    with p.unit() as s:
        events = svc.sync_line(p, s, SYSTEM, line["line_id"])
        assert [e.kind.value for e in events] == ["expired"]
        assert svc.sync_line(p, s, SYSTEM, line["line_id"]) == []
    _book_is_sound(p)


def test_a_grant_happens_once_and_the_contract_is_then_never_paid_out(platform) -> None:
    p = platform
    contract_id = signed_contract(p, "SME-EI-12")
    with p.unit() as s:
        line = svc.grant(p, s, SYSTEM, contract_id, key="g")
    with p.unit() as s:
        assert svc.grant(p, s, SYSTEM, contract_id, key="g")["line_id"] == line["line_id"]
        with pytest.raises(AlreadyDone):
            svc.grant(p, s, SYSTEM, contract_id, key="other")
        with pytest.raises(AlreadyDone):
            loans.disburse(p, s, SYSTEM, contract_id)


def test_a_disbursed_contract_grants_no_line(platform) -> None:
    p = platform
    contract_id = signed_contract(p, "SME-EI-12")
    with p.unit() as s:
        loans.disburse(p, s, SYSTEM, contract_id)
    with pytest.raises(InvalidEvent), p.unit() as s:
        svc.grant(p, s, SYSTEM, contract_id, key="g")


def test_a_draw_above_a_fallen_cap_is_refused(platform) -> None:
    p = platform
    line = granted_line(p)
    p.rate_cap = RateCap(Decimal("0.05"), "test cap")
    with pytest.raises(RateCapExceeded), p.unit() as s:
        svc.draw(p, s, SYSTEM, line["line_id"], 1_000_000, key="d")


def test_who_may_do_what(platform) -> None:
    p = platform
    line = granted_line(p)
    owner = BORROWER_OF(line["applicant_id"])
    stranger = BORROWER_OF("AP-someone-else")
    with p.unit() as s:
        assert svc.draw(p, s, owner, line["line_id"], 1_000_000, key="own")["loan_id"]
        with pytest.raises(NotFound):
            svc.draw(p, s, stranger, line["line_id"], 1_000_000, key="x")
        with pytest.raises(AccessDenied):
            svc.change_line(p, s, owner, line["line_id"], key="c", reason="me", limit=1)
        assert svc.list_lines(p, s, stranger, None, 10) == []
        assert [x["line_id"] for x in svc.list_lines(p, s, owner, None, 10)] == [line["line_id"]]


@pytest.mark.postgres
def test_two_draws_racing_for_the_last_available_amount_do_not_both_succeed(pg_url) -> None:
    platforms = [Platform.open(pg_url, clock=ManualClock(at_business_date(START)),
                               gateway=SandboxGateway()) for _ in range(2)]
    try:
        line = granted_line(platforms[0])
        amount = line["limit"] * 6 // 10  # either fits alone, both do not
        barrier = threading.Barrier(2)
        outcomes: list[object] = [None, None]

        def race(i: int) -> None:
            p = platforms[i]
            barrier.wait()
            try:
                with p.unit() as s:
                    outcomes[i] = svc.draw(p, s, SYSTEM, line["line_id"], amount, key=f"r{i}")
            except Exception as exc:  # noqa: BLE001 - the loser's refusal is the point
                outcomes[i] = exc

        threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        won = [o for o in outcomes if isinstance(o, dict)]
        lost = [o for o in outcomes if isinstance(o, Exception)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert isinstance(lost[0], DrawExceedsAvailable), lost
        with platforms[0].read() as s:
            shown = svc.get_line(platforms[0], s, SYSTEM, line["line_id"])
        assert shown["drawn"] == amount and len(shown["loans"]) == 1
        _book_is_sound(platforms[0])
    finally:
        for p in platforms:
            p.close()


def test_line_statuses_match_the_lifecycle() -> None:
    assert [s.value for s in LineStatus] == ["active", "frozen", "expired", "closed"]


def test_the_daily_close_expires_lines_and_the_auto_debit_restores_availability(platform) -> None:
    from puhui.services.business_day import close_day

    p = platform
    line = granted_line(p)
    with p.unit() as s:
        drawn = svc.draw(p, s, SYSTEM, line["line_id"], 2_000_000, key="d")
    p.clock.set(at_business_date(START + timedelta(days=3)))
    close_day(p, SYSTEM, START + timedelta(days=2))
    with p.unit() as s:
        summary = loans.auto_debit(p, s, SYSTEM)
    assert summary["collected"] == 1  # the day's interest of the revolving draw
    with p.read() as s:
        assert svc.get_line(p, s, SYSTEM, line["line_id"])["drawn"] == 2_000_000
    with p.unit() as s:  # the borrower repays some principal
        loans.repay(p, s, SYSTEM, drawn["loan_id"], 500_000, key="r")
    with p.read() as s:
        assert svc.get_line(p, s, SYSTEM, line["line_id"])["drawn"] == 1_500_000
    expiry = START + timedelta(days=180)
    p.clock.set(at_business_date(expiry + timedelta(days=1)))
    close_day(p, SYSTEM, expiry)
    with p.read() as s:
        shown = svc.get_line(p, s, SYSTEM, line["line_id"])
    assert shown["status"] == "expired" and shown["available"] == 0
    assert shown["events"][-1]["kind"] == "expired"
    assert shown["events"][-1]["on"] == expiry.isoformat()
    _book_is_sound(p)


def test_the_platform_simulation_grants_draws_and_repays_lines(platform) -> None:
    """The demo book (`make run`) has lines that move: granted, drawn again, repaid, and the
    ledger sound at the end."""
    from puhui.services.platform_simulation import simulate_platform

    result = simulate_platform(platform, businesses=30, days=60, start=START)
    assert result.funnel["line_granted"] >= 3, result.funnel
    assert result.funnel["line_draws"] >= 1, result.funnel
    with platform.read() as s:
        shown = [svc.get_line(platform, s, SYSTEM, line_id) for line_id in result.line_ids]
    kinds = {e["kind"] for line in shown for e in line["events"]}
    assert {"granted", "draw", "principal_restored"} <= kinds
    _book_is_sound(platform)
