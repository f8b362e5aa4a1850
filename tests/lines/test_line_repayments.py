"""A line's repayment record from its loans' histories (`services.lines.repayments_of`), and the
re-evaluation that prices a line down after six months repaid on time, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from puhui.services import lines as svc
from puhui.services import loans
from puhui.services import reevaluation as rv
from puhui.services.access import SYSTEM
from puhui.services.clock import at_business_date
from puhui.services.platform import Platform

from lines_samples import START, granted_line


def _instalment(p: Platform, loan_id: str, due: date) -> int:
    """What the instalment due on `due` comes to (principal, interest and fee)."""
    with p.read() as s:
        account = p.book.load_in(s, loan_id)
    [inst] = [i for i in account.instalments if i.due == due]
    return inst.principal + inst.interest + inst.fee


def _drawn_and_repaid(p: Platform, late: int | None = None) -> tuple[dict, str, list[date]]:
    """A line of the 12-month instalment product, one draw on START, the first six instalments
    repaid on their due dates (instalment `late`, counted from 0, a day after it)."""
    line = granted_line(p, "SME-EI-12")
    with p.unit() as s:
        loan_id = svc.draw(p, s, SYSTEM, line["line_id"], 1_000_000, key="d")["loan_id"]
    with p.read() as s:
        dues = [i.due for i in p.book.load_in(s, loan_id).instalments][:6]
    for n, due in enumerate(dues):
        day = due + timedelta(days=1) if n == late else due
        amount = _instalment(p, loan_id, due) + (10_000 if n == late else 0)  # + the penalty
        p.clock.set(at_business_date(day))
        with p.unit() as s:
            loans.repay(p, s, SYSTEM, loan_id, amount, key=f"r{n}")
    return line, loan_id, dues


def _reevaluated(p: Platform, line: dict, on: date) -> rv.Reevaluated:
    p.clock.set(at_business_date(on))
    with p.unit() as s:
        [done] = rv.reevaluate_applicant(p, s, line["applicant_id"],
                                         rv.LineMonitor.for_platform(p), trigger="pull")
    return done


def test_six_months_repaid_on_time_price_the_line_half_a_point_lower(platform) -> None:
    p = platform
    line, loan_id, dues = _drawn_and_repaid(p)
    with p.read() as s:
        [row] = svc.lines_of(s, line["applicant_id"])
        record = svc.repayments_of(s, row)
    assert len(record) == 12  # every instalment of the loan, the unpaid ones too
    assert [(d.due, d.settled_on) for d in record[:6]] == [(d, d) for d in dues]
    assert all(d.settled_on is None for d in record[6:])
    assert rv.LineMonitor.for_platform(p).repayments_of is svc.repayments_of

    done = _reevaluated(p, line, dues[-1] + timedelta(days=1))
    assert done.decision.fired == ("ON_TIME_SIX_MONTHS",)
    with p.read() as s:
        after = svc.get_line(p, s, SYSTEM, line["line_id"])
        events = svc.events_of(s, SYSTEM, line["line_id"])
    assert Decimal(after["annual_rate"]) == Decimal(line["annual_rate"]) - Decimal("0.005")
    assert [e.kind.value for e in events][-1] == "price_changed"
    # run again: the months count from the re-pricing, so the same six do not cut it twice
    again = _reevaluated(p, line, dues[-1] + timedelta(days=1))
    assert "ON_TIME_SIX_MONTHS" not in again.decision.fired
    with p.read() as s:
        assert Decimal(svc.get_line(p, s, SYSTEM, line["line_id"])["annual_rate"]) == \
            Decimal(after["annual_rate"])


def test_one_instalment_a_day_late_in_those_months_prices_nothing(platform) -> None:
    p = platform
    line, loan_id, dues = _drawn_and_repaid(p, late=3)
    with p.read() as s:
        [row] = svc.lines_of(s, line["applicant_id"])
        record = svc.repayments_of(s, row)
    # the history, not today's state: paid a day late, settled a day late
    assert record[3].due == dues[3] and record[3].settled_on == dues[3] + timedelta(days=1)
    assert [d.settled_on for d in record[:6] if d.due != dues[3]] == \
        [d for d in dues if d != dues[3]]

    done = _reevaluated(p, line, dues[-1] + timedelta(days=1))
    assert "ON_TIME_SIX_MONTHS" not in done.decision.fired
    with p.read() as s:
        after = svc.get_line(p, s, SYSTEM, line["line_id"])
    assert Decimal(after["annual_rate"]) == Decimal(line["annual_rate"])


def test_a_line_not_yet_drawn_has_no_repayment_record(platform) -> None:
    p = platform
    line = granted_line(p, "SME-EI-12")
    with p.read() as s:
        [row] = svc.lines_of(s, line["applicant_id"])
        assert svc.repayments_of(s, row) == []
