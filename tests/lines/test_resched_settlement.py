"""A reschedule in a line's repayment record (`book.history.settlement_history`, through the
settlement cache): the instalments it took over after they fell due are settled, late, on its
day, so the line's days past due end with it and its missed instalments stay counted; the
running period and the later instalments leave the record; the new schedule is judged on its
own.  On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

from puhui.book.loan_book import instalment_settlements, settlement_record
from puhui.lines.signals import Due, repayment_facts
from puhui.loans.events import PaymentReversal, Reschedule
from puhui.services import line_behaviour as lb
from puhui.services import lines as svc
from puhui.services import loans
from puhui.services.access import SYSTEM
from puhui.services.clock import at_business_date
from puhui.services.collections import direct_operations
from puhui.services.platform import Platform
from puhui.store import line_repo, settlement_repo

from lines_samples import START, granted_line


def _draw(p: Platform, seed: int = 7) -> tuple[dict, str]:
    line = granted_line(p, "SME-EI-12", seed=seed)
    p.clock.set(at_business_date(START))
    with p.unit() as s:
        loan_id = svc.draw(p, s, SYSTEM, line["line_id"], 1_000_000, key="d")["loan_id"]
    return line, loan_id


def _instalments(p: Platform, loan_id: str) -> list:
    with p.read() as s:
        return p.book.load_in(s, loan_id).instalments


def _pay_on_time(p: Platform, loan_id: str, due: date, key: str) -> None:
    [inst] = [i for i in _instalments(p, loan_id) if i.due == due]
    p.clock.set(at_business_date(due))
    with p.unit() as s:
        loans.repay(p, s, SYSTEM, loan_id, inst.principal + inst.interest + inst.fee, key=key)


def _restructure(p: Platform, loan_id: str, on: date, periods: int = 6) -> None:
    """A reschedule as collections applies one (`direct_operations`)."""
    p.clock.set(at_business_date(on))
    with p.unit() as s:
        done = direct_operations(p)(s, loan_id, "reschedule",
                                    {"periods": periods, "annual_rate": None,
                                     "on": on.isoformat()}, f"resched:{on}")
    assert done["applied"]


def _record(p: Platform, line: dict) -> list[Due]:
    with p.read() as s:
        [row] = [x for x in svc.lines_of(s, line["applicant_id"])
                 if x.line_id == line["line_id"]]
        return svc.repayments_of(s, row)


def _facts(p: Platform, line: dict, today: date, since: date | None = None) -> dict[str, int]:
    """The line's facts through the cache (writing it), checked against a fresh replay of its
    loans' histories and the cache rows against the replay."""
    with p.unit() as s:
        [row] = [x for x in svc.lines_of(s, line["applicant_id"])
                 if x.line_id == line["line_id"]]
        loan_ids = line_repo.loans_of(s, row.line_id)
        replayed = sorted((Due(d, on) for loan_id in loan_ids
                           for d, on in instalment_settlements(s, loan_id)),
                          key=lambda d: (d.due, d.settled_on is None, d.settled_on or d.due))
        got = lb.behaviour_of(s, [row], today, {row.line_id: since})[row.line_id]
        assert got == repayment_facts(replayed, today, since)
        for loan_id in loan_ids:  # the row written is the replay, and of the history as it is
            assert lb.loan_dues(s, [loan_id])[loan_id] == instalment_settlements(s, loan_id) \
                == settlement_record(s, loan_id).dues
            assert settlement_repo.read(s, [loan_id])[loan_id].fresh
    assert _record(p, line) == replayed
    return got


def test_two_late_instalments_a_reschedule_took_over_are_settled_late_on_its_day(
        platform) -> None:
    p = platform
    line, loan_id = _draw(p)
    dues = [i.due for i in _instalments(p, loan_id)]
    on = dues[1] + timedelta(days=10)  # the first two instalments unpaid since they fell due
    assert _facts(p, line, on) == {"on_time_months": 0, "days_past_due": (on - dues[0]).days,
                                   "missed_instalments_6m": 2}
    with p.read() as s:
        before = settlement_repo.read(s, [loan_id])[loan_id]
    assert before.fresh

    _restructure(p, loan_id, on)
    with p.read() as s:
        stale = settlement_repo.read(s, [loan_id])[loan_id]
    assert stale.version > before.version and not stale.fresh  # the reschedule moved it
    record = _record(p, line)
    assert record[:2] == [Due(dues[0], on), Due(dues[1], on)]  # late: after their due dates
    fresh = [i.due for i in _instalments(p, loan_id) if i.due > on]
    # the running period (cut to end on the day) and the later ones are gone: only the new six
    assert len(fresh) == 6 and [d.due for d in record[2:]] == fresh
    assert all(d.settled_on is None for d in record[2:])
    assert on in {i.due for i in _instalments(p, loan_id)} and on not in {d.due for d in record}
    assert _facts(p, line, on) == {"on_time_months": 0, "days_past_due": 0,
                                   "missed_instalments_6m": 2}
    assert _facts(p, line, on + timedelta(days=1)) == \
        {"on_time_months": 0, "days_past_due": 0, "missed_instalments_6m": 2}

    # the new schedule on time: its months count, the old misses stay missed for six months
    for n, due in enumerate(fresh[:3]):
        _pay_on_time(p, loan_id, due, f"new{n}")
    today = fresh[2] + timedelta(days=1)
    assert _facts(p, line, today) == {"on_time_months": 3, "days_past_due": 0,
                                      "missed_instalments_6m": 2}
    assert _facts(p, line, today, since=fresh[1]) == \
        {"on_time_months": 2, "days_past_due": 0, "missed_instalments_6m": 2}
    # a new instalment missed is late like any other
    assert _facts(p, line, fresh[3] + timedelta(days=4)) == \
        {"on_time_months": 0, "days_past_due": 4, "missed_instalments_6m": 3}


def test_a_reschedule_with_nothing_overdue_keeps_the_record_and_drops_what_it_replaced(
        platform) -> None:
    p = platform
    line, loan_id = _draw(p)
    dues = [i.due for i in _instalments(p, loan_id)]
    for n, due in enumerate(dues[:3]):
        _pay_on_time(p, loan_id, due, f"r{n}")
    on = dues[2] + timedelta(days=12)
    assert _facts(p, line, on) == {"on_time_months": 3, "days_past_due": 0,
                                   "missed_instalments_6m": 0}

    _restructure(p, loan_id, on, periods=4)
    record = _record(p, line)
    assert record[:3] == [Due(d, d) for d in dues[:3]]  # paid before: their dates kept
    fresh = [i.due for i in _instalments(p, loan_id) if i.due > on]
    assert [d.due for d in record[3:]] == fresh and len(fresh) == 4
    # the loan keeps its running period cut to end on the day; the record does not
    assert on in {i.due for i in _instalments(p, loan_id)} and on not in {d.due for d in record}
    assert _facts(p, line, on + timedelta(days=1)) == \
        {"on_time_months": 3, "days_past_due": 0, "missed_instalments_6m": 0}
    _pay_on_time(p, loan_id, fresh[0], "new0")
    assert _facts(p, line, fresh[0] + timedelta(days=1)) == \
        {"on_time_months": 4, "days_past_due": 0, "missed_instalments_6m": 0}


def test_arrears_a_reschedule_left_owing_keep_the_instalment_open_until_paid(platform) -> None:
    p = platform
    line, loan_id = _draw(p)
    dues = [i.due for i in _instalments(p, loan_id)]
    on = dues[0] + timedelta(days=5)
    p.clock.set(at_business_date(on))
    with p.unit() as s:
        p.book.apply_in(s, [(loan_id, Reschedule("keep", on, 6, capitalise_arrears=False))])
    record = _record(p, line)
    # its interest and fee still owed on it; the running period's interest so far is due today
    assert record[:2] == [Due(dues[0], None), Due(on, None)]
    assert _facts(p, line, on + timedelta(days=1))["days_past_due"] == 6
    paid_on = on + timedelta(days=3)
    p.clock.set(at_business_date(paid_on))
    with p.unit() as s:  # what is due on them, and the penalty, first in the waterfall
        account = p.book.load_in(s, loan_id)
        owed = sum(i.unpaid(c) for i in account.instalments if i.due <= on for c in i.paid)
        loans.repay(p, s, SYSTEM, loan_id, owed + account.penalty_receivable, key="arrears")
    assert _record(p, line)[:2] == [Due(dues[0], paid_on), Due(on, paid_on)]
    assert _facts(p, line, paid_on + timedelta(days=1)) == \
        {"on_time_months": 0, "days_past_due": 0, "missed_instalments_6m": 2}


def test_a_cache_row_of_an_earlier_rule_is_not_used(platform, monkeypatch) -> None:
    p = platform
    line, loan_id = _draw(p)
    dues = [i.due for i in _instalments(p, loan_id)]
    on = dues[1] + timedelta(days=10)
    _restructure(p, loan_id, on)
    with monkeypatch.context() as m:  # rows written under rule 1 (which left them open)
        m.setattr(settlement_repo, "RECORD_RULES", 1)
        expected = _facts(p, line, on + timedelta(days=1))
        with p.read() as s:
            assert settlement_repo.read(s, [loan_id])[loan_id].fresh
    with p.read() as s:
        assert settlement_repo.read(s, [loan_id])[loan_id].cached is None  # fails its digest
    assert _facts(p, line, on + timedelta(days=1)) == expected
    with p.read() as s:
        assert settlement_repo.read(s, [loan_id])[loan_id].fresh


def test_a_receipt_before_a_reschedule_bounced_after_it_leaves_the_instalment_taken_over(
        platform) -> None:
    p = platform
    line, loan_id = _draw(p)
    dues = [i.due for i in _instalments(p, loan_id)]
    _pay_on_time(p, loan_id, dues[0], "r0")
    on = dues[1] + timedelta(days=10)
    _restructure(p, loan_id, on)
    assert _record(p, line)[:2] == [Due(dues[0], dues[0]), Due(dues[1], on)]
    bounced = on + timedelta(days=2)
    p.clock.set(at_business_date(bounced))
    with p.unit() as s:
        p.book.apply_in(s, [(loan_id, PaymentReversal("r0-bounced", bounced, "r0", "NSF"))])
    # the history without the receipt: the reschedule took the first instalment over too
    assert _record(p, line)[:2] == [Due(dues[0], on), Due(dues[1], on)]
    assert _facts(p, line, bounced + timedelta(days=1)) == \
        {"on_time_months": 0, "days_past_due": 0, "missed_instalments_6m": 2}
