"""Lines' repayment behaviour through the settlement cache (`services.line_behaviour`): equal to
replaying every loan's history after on-time, late, partial, reversed, early and rescheduled
payments, a write-off and daily closes; a row goes stale with the loan's history and is
recomputed, and a tampered row is never used.  On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import update

from puhui.book.loan_book import instalment_settlements
from puhui.errors import InvalidEvent
from puhui.lines.policy import InvalidLineFacts
from puhui.lines.signals import Due, repayment_facts
from puhui.loans.events import PaymentReversal, Reschedule, WriteOff
from puhui.services import line_behaviour as lb
from puhui.services import lines as svc
from puhui.services import loans
from puhui.services.access import SYSTEM
from puhui.services.business_day import close_day
from puhui.services.clock import at_business_date
from puhui.services.platform import Platform
from puhui.store import line_repo, settlement_repo

from lines_samples import START, granted_line


def _replayed(s, line) -> list[Due]:
    """The reference: every loan of the line replayed from its history, no cache."""
    dues = [Due(due, on) for loan_id in line_repo.loans_of(s, line.line_id)
            for due, on in instalment_settlements(s, loan_id)]
    return sorted(dues, key=lambda d: (d.due, d.settled_on is None, d.settled_on or d.due))


def _lines(p: Platform, applicants: list[str]) -> list:
    with p.read() as s:
        return [line for a in applicants for line in svc.lines_of(s, a)]


def _check(p: Platform, applicants: list[str], today: date) -> dict[str, dict[str, int]]:
    """behaviour_of (writing the cache) and repayments_of equal the replay, for several
    `since`; return the facts with `since` None."""
    lines = _lines(p, applicants)
    with p.unit() as s:
        expected = {line.line_id: _replayed(s, line) for line in lines}
        for since_day in (None, START, today - timedelta(days=70)):
            since = {line.line_id: since_day for line in lines}
            got = lb.behaviour_of(s, lines, today, since)
            assert got == {line.line_id: repayment_facts(expected[line.line_id], today, since_day)
                           for line in lines}
        for line in lines:
            assert svc.repayments_of(s, line) == expected[line.line_id]
        facts = lb.behaviour_of(s, lines, today, {line.line_id: None for line in lines})
        # every loan's row is now of its history as it stands
        ids = [loan_id for line in lines for loan_id in line_repo.loans_of(s, line.line_id)]
        assert all(row.fresh for row in settlement_repo.read(s, ids).values())
    with p.read() as s:  # a reader uses the cache without writing it, and gets the same
        assert {line.line_id: svc.repayments_of(s, line) for line in lines} == expected
    return facts


def _instalments(p: Platform, loan_id: str) -> list:
    with p.read() as s:
        return p.book.load_in(s, loan_id).instalments


def _owed(inst) -> int:
    return inst.principal + inst.interest + inst.fee


def _pay(p: Platform, loan_id: str, day: date, amount: int, key: str) -> None:
    p.clock.set(at_business_date(day))
    with p.unit() as s:
        loans.repay(p, s, SYSTEM, loan_id, amount, key=key)


def _apply(p: Platform, loan_id: str, event) -> None:
    p.clock.set(at_business_date(event.on))
    with p.unit() as s:
        p.book.apply_in(s, [(loan_id, event)])


def _close(p: Platform, day: date) -> None:
    p.clock.set(at_business_date(day))
    close_day(p, SYSTEM, day)


def _row(p: Platform, loan_id: str) -> settlement_repo.Stamped:
    with p.read() as s:
        return settlement_repo.read(s, [loan_id])[loan_id]


def _draw(p: Platform, seed: int, key: str) -> tuple[dict, str]:
    line = granted_line(p, "SME-EI-12", seed=seed)
    p.clock.set(at_business_date(START))
    with p.unit() as s:
        loan_id = svc.draw(p, s, SYSTEM, line["line_id"], 1_000_000, key=key)["loan_id"]
    return line, loan_id


def test_the_cached_record_is_the_replayed_one_through_a_loans_life(platform) -> None:
    p = platform
    line_a, a = _draw(p, 7, "da")
    line_b, b = _draw(p, 11, "db")
    line_c = granted_line(p, "SME-EI-12", seed=13)  # never drawn
    applicants = [line_a["applicant_id"], line_b["applicant_id"], line_c["applicant_id"]]
    dues = [i.due for i in _instalments(p, a)]
    b_dues = [i.due for i in _instalments(p, b)]
    assert _check(p, applicants, START)[line_c["line_id"]] == \
        {"on_time_months": 0, "days_past_due": 0, "missed_instalments_6m": 0}

    # B: the first instalment paid five days early: held as credit for the due date's close
    _pay(p, b, b_dues[0] - timedelta(days=5), _owed(_instalments(p, b)[0]), "b0")
    _close(p, b_dues[0] - timedelta(days=5))
    _check(p, applicants, b_dues[0] - timedelta(days=4))
    assert _row(p, b).cached.awaits_close
    assert _record(p, line_b)[0] == Due(b_dues[0], None)
    # A: the first instalment on its due date, then the closes through it: they apply B's
    # credit, so B's row (which awaited them) goes stale; A's held no credit and stays
    _pay(p, a, dues[0], _owed(_instalments(p, a)[0]), "a0")
    _check(p, applicants, dues[0])
    assert not _row(p, a).cached.awaits_close
    _close(p, b_dues[0] + timedelta(days=1))
    assert not _row(p, b).fresh
    assert _row(p, a).fresh
    facts = _check(p, applicants, b_dues[0] + timedelta(days=2))
    assert _record(p, line_b)[0] == Due(b_dues[0], b_dues[0])
    assert facts[line_b["line_id"]]["on_time_months"] == 1

    # A: the second instalment a day late (with its penalty), the third half on the day and
    # the rest three days later
    insts = _instalments(p, a)
    _pay(p, a, dues[1] + timedelta(days=1), _owed(insts[1]) + 10_000, "a1")
    _pay(p, a, dues[2], _owed(insts[2]) // 2, "a2a")
    _pay(p, a, dues[2] + timedelta(days=3), _owed(insts[2]), "a2b")
    facts = _check(p, applicants, dues[2] + timedelta(days=4))
    record_a = _record(p, line_a)
    assert record_a[0] == Due(dues[0], dues[0])
    assert record_a[1] == Due(dues[1], dues[1] + timedelta(days=1))
    assert record_a[2] == Due(dues[2], dues[2] + timedelta(days=3))
    assert facts[line_a["line_id"]] == {"on_time_months": 0, "days_past_due": 0,
                                        "missed_instalments_6m": 2}

    # A: the fourth instalment paid on its day, then the receipt bounces: stale, un-settled
    _pay(p, a, dues[3], _owed(_instalments(p, a)[3]), "a3")
    _check(p, applicants, dues[3] + timedelta(days=1))
    assert _record(p, line_a)[3] == Due(dues[3], dues[3])
    _apply(p, a, PaymentReversal("a3-bounced", dues[3] + timedelta(days=2), "a3", "NSF"))
    assert not _row(p, a).fresh
    facts = _check(p, applicants, dues[3] + timedelta(days=3))
    assert _record(p, line_a)[3].settled_on is None
    assert facts[line_a["line_id"]]["days_past_due"] == 3

    # A rescheduled over six months: the old instalments that had fallen due stay, the unpaid
    # one settled (late) on the reschedule's day; the running period and the later ones go
    on = dues[3] + timedelta(days=10)
    _apply(p, a, Reschedule("a-resched", on, 6))
    assert not _row(p, a).fresh
    facts = _check(p, applicants, on + timedelta(days=1))
    after = _record(p, line_a)
    assert after[:4] == record_a[:3] + [Due(dues[3], on)]  # its interest capitalised
    assert facts[line_a["line_id"]]["days_past_due"] == 0
    now = {i.due for i in _instalments(p, a)}
    assert on in now  # the loan keeps its running period, cut to end on the day: not the record
    assert {d.due for d in after} == now - {on} and dues[-1] not in now  # later ones replaced

    # B written off: stale, and its unpaid instalments stay unsettled
    _apply(p, b, WriteOff("b-wo", b_dues[2] + timedelta(days=5), "absconded"))
    assert not _row(p, b).fresh
    facts = _check(p, applicants, b_dues[2] + timedelta(days=6))
    assert _record(p, line_b)[1].settled_on is None
    assert facts[line_b["line_id"]]["missed_instalments_6m"] == 2


def _record(p: Platform, line: dict) -> list[Due]:
    with p.read() as s:
        [row] = [x for x in svc.lines_of(s, line["applicant_id"]) if x.line_id == line["line_id"]]
        return svc.repayments_of(s, row)


def test_a_row_goes_stale_with_a_repayment_and_is_written_again(platform) -> None:
    p = platform
    line, loan_id = _draw(p, 7, "d")
    dues = [i.due for i in _instalments(p, loan_id)]
    assert _check(p, [line["applicant_id"]], START)
    first = _row(p, loan_id)
    assert first.fresh and first.cached.dues
    _pay(p, loan_id, dues[0], _owed(_instalments(p, loan_id)[0]), "r0")
    stale = _row(p, loan_id)
    assert not stale.fresh and stale.cached == first.cached  # the old row, not of this history
    assert stale.version > first.cached.version
    _check(p, [line["applicant_id"]], dues[0] + timedelta(days=1))
    again = _row(p, loan_id)
    assert again.fresh and again.cached.version == stale.version
    assert again.cached.dues != first.cached.dues


@pytest.mark.parametrize("tamper", ["dues", "version", "closed", "digest"])
def test_a_tampered_row_is_recomputed_from_the_history(platform, tamper: str) -> None:
    p = platform
    line, loan_id = _draw(p, 7, "d")
    dues = [i.due for i in _instalments(p, loan_id)]
    _pay(p, loan_id, dues[0], _owed(_instalments(p, loan_id)[0]), "r0")
    today = dues[0] + timedelta(days=40)
    expected = _check(p, [line["applicant_id"]], today)
    good = _row(p, loan_id).cached
    table = settlement_repo.SETTLEMENTS
    # a row that claims every instalment was paid on its due date
    from puhui.lines.behaviour import decode_dues, encode_dues
    forged = encode_dues([(d, d) for d, _ in decode_dues(good.dues)])
    values = {"dues": {"dues": forged}, "version": {"version": good.version + 1},
              "closed": {"closed_through": date(2030, 1, 1)},
              "digest": {"digest": "0" * 32}}[tamper]
    with p.unit() as s:
        s.execute(update(table).where(table.c.loan_id == loan_id).values(**values))
    assert _row(p, loan_id).cached is None  # fails its digest: as good as missing
    with p.unit() as s:
        lines = svc.lines_of(s, line["applicant_id"])
        assert lb.behaviour_of(s, lines, today, {x.line_id: None for x in lines}) == expected
    assert _row(p, loan_id).cached == good  # written again from the history


def test_behaviour_needs_a_since_for_every_line_and_writes_nothing_without(platform) -> None:
    p = platform
    line, loan_id = _draw(p, 7, "d")
    with p.unit() as s:
        lines = svc.lines_of(s, line["applicant_id"])
        with pytest.raises(InvalidLineFacts):
            lb.behaviour_of(s, lines, START, {})
        assert lb.behaviour_of(s, [], START, {}) == {}
    assert _row(p, loan_id).cached is None
    with p.unit() as s:
        assert lb.since_of(s, lines) == {line["line_id"]: lines[0].opened_on}


def test_a_read_only_session_uses_the_cache_and_writes_nothing(platform) -> None:
    p = platform
    line, loan_id = _draw(p, 7, "d")
    with p.read() as s:
        if s.connection().dialect.name == "postgresql":
            s.connection().exec_driver_sql("SET TRANSACTION READ ONLY")
        assert not settlement_repo.writable(s)
        [row] = svc.lines_of(s, line["applicant_id"])
        assert svc.repayments_of(s, row) == _replayed(s, row)
        assert lb.behaviour_of(s, [row], START, {row.line_id: None}) == \
            {row.line_id: repayment_facts(_replayed(s, row), START, None)}
    assert _row(p, loan_id).cached is None
    with p.unit() as s:
        assert settlement_repo.writable(s)
        with pytest.raises(InvalidEvent):
            lb.settlements_of(s, [loan_id, "no-such-loan"])
    assert _row(p, loan_id).cached is None  # refused before anything was written
