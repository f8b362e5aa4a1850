"""The durable loan book on SQLite and PostgreSQL: events and journal entries land together."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from puhui.book import LoanBook
from puhui.errors import (
    IdempotencyConflict, InvalidAmount, InvalidBusinessDate, InvalidEvent, LoanClosed,
)
from puhui.loans.events import (
    Disbursement, Draw, EndOfDay, LineOpening, PaymentReversal, Prepayment, Repayment,
)
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.loans.schedule import build_schedule
from puhui.loans.servicing import Loan
from puhui.store.models import LoanEventRow

PRODUCT = LoanProduct("EI6", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.12"), term_periods=6,
                      instalment_fee_fixed=300, upfront_fee_rate=Decimal("0.01"))
START = date(2026, 1, 10)
RECEIVABLES = ("1301", "1302", "1303", "1304", "2241")


def _sub_ledger(book: LoanBook, loan_id: str) -> dict[str, int]:
    return {a: v for (a, _), v in book.balances(loan_id).items() if a in RECEIVABLES}


def _event_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(LoanEventRow)).scalar_one()


def test_loan_lifecycle_persists_and_reconciles(engine: Engine) -> None:
    book = LoanBook(engine)
    book.open("L1", PRODUCT)
    book.apply("L1", Disbursement("d", START, 60_000_00))
    schedule = build_schedule(PRODUCT, 60_000_00, START)
    day = START
    for inst in schedule.instalments:
        while day < inst.due:
            book.end_of_day(day)
            day += timedelta(days=1)
        book.apply("L1", Repayment(f"pay{inst.number}", inst.due, inst.total))
    book.end_of_day(day)
    loan = book.load("L1")
    assert loan.status.value == "closed"
    assert _sub_ledger(book, "L1") == loan.balances() == {}
    assert book.trial_balance() == {"CNY": 0}
    assert book.verify_ledger() > 0
    income = {a: -v for (a, _), v in book.balances("L1").items() if a.startswith("6")}
    assert income["6011"] == schedule.total_interest
    assert income["6021"] == schedule.total_fees
    # a fresh book (no cache) rebuilds the same loan from the database
    again = LoanBook(engine).load("L1")
    assert again.balances() == loan.balances() and again.posted() == loan.posted()
    assert [(i.principal, i.interest, i.fee) for i in again.instalments] == \
        [(i.principal, i.interest, i.fee) for i in schedule.instalments]
    with pytest.raises(LoanClosed):
        book.apply("L1", Repayment("late", day, 100))


def test_replayed_event_is_a_no_op_and_conflict_changes_nothing(engine: Engine) -> None:
    book = LoanBook(engine)
    book.open("L2", PRODUCT)
    book.apply("L2", Disbursement("d", START, 10_000_00))
    first = book.apply("L2", Repayment("r", START + timedelta(days=3), 500_00))
    assert first
    events, balances = _event_count(engine), book.balances()
    assert book.apply("L2", Repayment("r", START + timedelta(days=3), 500_00)) == []
    with pytest.raises(IdempotencyConflict):
        book.apply("L2", Repayment("r", START + timedelta(days=3), 501_00))
    assert _event_count(engine) == events and book.balances() == balances


def test_failed_batch_writes_nothing(engine: Engine) -> None:
    book = LoanBook(engine)
    book.open("A", PRODUCT)
    book.open("B", PRODUCT)
    book.apply("A", Disbursement("d", START, 10_000_00))
    events, balances = _event_count(engine), book.balances()
    with pytest.raises(InvalidEvent):  # B was never disbursed: the whole batch must roll back
        book.apply_many([("A", Repayment("ra", START, 100_00)), ("B", Repayment("rb", START, 100_00))])
    assert _event_count(engine) == events and book.balances() == balances
    assert book.load("A").credit == 0
    with pytest.raises(InvalidAmount):
        book.apply("A", Repayment("neg", START, -5))


def test_reversal_and_prepayment_reconcile_with_sub_ledger(engine: Engine) -> None:
    book = LoanBook(engine)
    book.open("L3", PRODUCT)
    book.apply("L3", Disbursement("d", START, 30_000_00))
    day = START
    for n in range(70):
        book.end_of_day(day)
        day += timedelta(days=1)
        if n == 31:
            book.apply("L3", Repayment("r1", day, 5_000_00))
    book.apply("L3", PaymentReversal("x1", day, target="r1", reason="bounced"))
    loan = book.load("L3")
    assert loan.days_past_due(day) > 0 and loan.penalty_receivable > 0
    assert _sub_ledger(book, "L3") == loan.balances()
    book.apply("L3", Prepayment("pp", day, loan.payoff_amount(day)))
    assert book.load("L3").status.value == "closed"
    assert _sub_ledger(book, "L3") == {} and book.trial_balance() == {"CNY": 0}
    assert LoanBook(engine).load("L3").posted() == book.load("L3").posted()


def test_revolving_line_in_the_book(engine: Engine) -> None:
    product = LoanProduct("RV", RepaymentMethod.REVOLVING, Decimal("0.1825"), term_days=30,
                          day_count="ACT/365F")
    book = LoanBook(engine)
    book.open("R1", product)
    book.apply_many([("R1", LineOpening("o", START, 20_000_00)), ("R1", Draw("d1", START, 10_000_00))])
    for n in range(10):
        book.end_of_day(START + timedelta(days=n))
    line = book.load("R1")
    assert line.interest_receivable == 10 * 500  # 0.05% a day on 10,000 yuan
    assert _sub_ledger(book, "R1") == line.balances()


def test_concurrent_writers_apply_an_event_once(engine: Engine) -> None:
    """Two book instances (two API workers) race to disburse the same loan: one wins."""
    LoanBook(engine).open("C1", PRODUCT)
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def disburse(key: str) -> None:
        book = LoanBook(engine)
        book.load("C1")
        barrier.wait()
        try:
            outcomes.append(book.apply("C1", Disbursement(key, START, 10_000_00)))
        except Exception as exc:  # noqa: BLE001 - the loser's error is the point of the test
            outcomes.append(exc)

    threads = [threading.Thread(target=disburse, args=(k,)) for k in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    book = LoanBook(engine)
    assert book.balances("C1")[("1301", "CNY")] == 10_000_00  # paid out exactly once
    assert sum(1 for o in outcomes if isinstance(o, list) and o) == 1
    assert isinstance(Loan.replay("C1", PRODUCT, [e for e, _ in book.load("C1").history]), Loan)


def test_the_business_date_only_moves_forward_and_skipped_days_close_in_order(engine: Engine) -> None:
    """A close behind the last one is refused; a close days ahead of it closes each skipped day
    first, so the loan ends exactly as with daily closes."""
    daily = LoanBook(engine)
    daily.open("D1", PRODUCT)
    daily.open("G1", PRODUCT)
    daily.apply_many([("D1", Disbursement("d", START, 60_000_00)),
                      ("G1", Disbursement("d", START, 60_000_00))])
    assert daily.last_closed_day() is None
    first = daily.end_of_day(START)
    assert first.days == [START] and daily.last_closed_day() == START
    due = build_schedule(PRODUCT, 60_000_00, START).instalments[0].due
    report = daily.end_of_day(due + timedelta(days=3))  # a month and more at once
    assert report.days == [START + timedelta(days=n) for n in range(1, (due - START).days + 4)]
    assert daily.last_closed_day() == due + timedelta(days=3)
    loan = daily.load("G1")
    assert loan.last_date == due + timedelta(days=3) and loan.penalty_receivable > 0
    before = daily.balances()
    with pytest.raises(InvalidBusinessDate, match="backwards"):
        daily.end_of_day(due)
    assert daily.balances() == before and daily.last_closed_day() == due + timedelta(days=3)
    again = daily.end_of_day(due + timedelta(days=3))  # the last day again: nothing new
    assert again.days == [due + timedelta(days=3)] and again.entries == 0
    gap = Loan("X", PRODUCT)  # the same loan closed one day at a time
    gap.apply(Disbursement("d", START, 60_000_00))
    day = START
    while day <= due + timedelta(days=3):
        gap.apply(EndOfDay(f"eod:{day}", day))
        day += timedelta(days=1)
    assert loan.balances() == gap.balances()


def test_book_verifies_both_chains_and_a_checkpoint_of_them(engine: Engine) -> None:
    """Servicing chains every event it stores, and the book signs and checks its heads."""
    from datetime import datetime, timezone

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    book = LoanBook(engine)
    book.open("L1", PRODUCT)
    book.apply_many([("L1", Disbursement("d", START, 60_000_00))])
    for offset in range(3):
        book.end_of_day(START + timedelta(days=offset))
    signed = book.checkpoint(key, datetime(2026, 1, 13, tzinfo=timezone.utc))
    assert signed.events.seq == _event_count(engine) == 4
    book.apply("L1", Repayment("pay", START + timedelta(days=3), 1_000_00))
    verified = book.verify(signed, key.public_key())
    assert (verified.events.seq, verified.checkpoint) == (5, signed)
    assert verified.journal.seq == book.verify_ledger() > signed.journal.seq


def test_a_day_closes_only_the_loans_paid_out_by_then(engine: Engine) -> None:
    """A day is often closed after midnight, when the next day's first loans are already paid
    out: they were no part of the day, so its close neither counts them nor reports them as
    failed (each was reported as an event dated before its disbursement)."""
    book = LoanBook(engine)
    for loan_id in ("A", "B", "C"):
        book.open(loan_id, PRODUCT)
    book.apply_many([("A", Disbursement("d", START, 60_000_00)),
                     ("B", Disbursement("d", START + timedelta(days=1), 60_000_00)),
                     ("C", Disbursement("d", START + timedelta(days=3), 60_000_00))])
    first = book.end_of_day(START)
    assert first.failures == {} and first.loans == 1
    again = book.end_of_day(START)  # the last closed day again: still only A
    assert again.failures == {} and again.loans == 1 and again.entries == 0
    later = book.end_of_day(START + timedelta(days=3))  # skipped days: B from its day, C last
    assert later.failures == {}
    assert later.days == [START + timedelta(days=n) for n in (1, 2, 3)] and later.loans == 3
    for loan_id in ("A", "B", "C"):
        assert book.load(loan_id).last_date == START + timedelta(days=3)
    assert book.trial_balance() == {"CNY": 0}
