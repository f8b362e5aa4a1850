"""The durable loan book on SQLite and PostgreSQL: events and journal entries land together."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from types import SimpleNamespace
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
from puhui.loans.snapshot import to_state
from puhui.store.models import LoanEventRow

PRODUCT = LoanProduct("EI6", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.12"), term_periods=6,
                      instalment_fee_fixed=300, upfront_fee_rate=Decimal("0.01"))
START = date(2026, 1, 10)
RECEIVABLES = ("1301", "1302", "1303", "1304", "2241")


def _sub_ledger(book: LoanBook, loan_id: str) -> dict[str, int]:
    return {a: v for (a, _), v in book.sub_ledger(loan_id).items() if a in RECEIVABLES}


def _replayed(book: LoanBook, loan_id: str):
    """The loan rebuilt from its events and the closes of its range, ignoring its snapshot."""
    with book.sessions() as session:
        return book.replay(session, loan_id).account


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
    income = {a: -v for (a, _), v in book.sub_ledger("L1").items() if a.startswith("6")}
    assert income["6011"] == schedule.total_interest
    assert income["6021"] == schedule.total_fees
    # a fresh book (no cache) rebuilds the same loan from the database
    again = LoanBook(engine).load("L1")
    assert again.balances() == loan.balances() and to_state(again) == to_state(loan)
    assert to_state(_replayed(book, "L1")) == to_state(loan)
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
    assert to_state(LoanBook(engine).load("L3")) == to_state(book.load("L3"))
    assert to_state(_replayed(book, "L3")) == to_state(book.load("L3"))


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
    assert book.sub_ledger("C1")[("1301", "CNY")] == 10_000_00  # paid out exactly once
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
    # the closes are recorded per partition, not as one event per loan and day
    assert signed.events.seq == _event_count(engine) == 1
    book.apply("L1", Repayment("pay", START + timedelta(days=3), 1_000_00))
    verified = book.verify(signed, key.public_key())
    assert (verified.events.seq, verified.checkpoint) == (2, signed)
    assert verified.journal.seq == book.verify_ledger() > signed.journal.seq


# -- stored history replays under the rules it was accepted under ------------------------------
def _store_as_accepted_before_the_payoff_rule(book: LoanBook, loan_id: str, event,
                                              lines: list[tuple[str, int]]) -> None:
    """Write `event` and its journal entry straight through the repositories, as the code from
    before receipts were bounded by the payoff stored them (no servicing rule is consulted)."""
    from puhui.ledger.journal import EntryDraft, Posting
    from puhui.store.ledger_repo import LedgerRepository
    from puhui.store.loan_repo import LoanEventRepository

    from sqlalchemy import delete

    from puhui.store.close_models import LoanPositionRow, LoanSnapshotRow

    with book.transaction() as session:
        # the loan as a database migrated from before snapshots holds it: events only
        for table in (LoanSnapshotRow, LoanPositionRow):
            session.execute(delete(table).where(table.loan_id == loan_id))
        book._cache.pop(loan_id, None)
        loans = LoanEventRepository(session)
        version = loans.get_loan(loan_id).version
        assert loans.append_event(loan_id, event.key, event.kind, event.on, event.content())
        loans.update_status(loan_id, "active", version)
        LedgerRepository(session).append([EntryDraft(
            event.on, event.kind, tuple(Posting(a, v, "CNY", loan_id) for a, v in lines),
            f"{loan_id}:{event.key}:0", loan_id).validate()])


@pytest.mark.parametrize("amount", [70_000_00, 10**12 + 1])  # above the payoff; above MAX_AMOUNT
def test_a_stored_overpayment_from_before_the_payoff_rule_still_replays(engine: Engine,
                                                                        amount: int) -> None:
    from typer.testing import CliRunner

    from puhui.cli import app
    from puhui.loans.events import CreditRefund

    book = LoanBook(engine)
    book.open("OLD", PRODUCT)
    book.apply("OLD", Disbursement("d", START, 60_000_00))
    # the old rules took a repayment above the payoff on the day of disbursement: nothing was
    # due, so all of it was held as the borrower's credit and the loan stayed open
    # (stored as the old code wrote it: its content, not an event the new bounds would build)
    content = {"kind": "repayment", "key": "over", "on": START.isoformat(), "amount": amount}
    over = SimpleNamespace(key="over", kind="repayment", on=START, content=lambda: content)
    _store_as_accepted_before_the_payoff_rule(book, "OLD", over, [("1001", amount),
                                                                  ("2241", -amount)])
    loan = LoanBook(engine).load("OLD")  # a fresh book: rebuilt from the stored events
    assert loan.status.value == "active"
    assert loan.principal_outstanding == 60_000_00 and loan.credit == amount
    assert loan.balances() == _sub_ledger(book, "OLD") == {"1301": 60_000_00, "2241": -amount}
    # a NEW over-payment is refused (everything owed is covered by the credit) and writes nothing
    events = _event_count(engine)
    with pytest.raises(InvalidAmount):
        book.apply("OLD", Repayment("new", START + timedelta(days=1), 1))
    with pytest.raises(InvalidAmount):
        book.apply("OLD", Prepayment("new-pre", START + timedelta(days=1), 1))
    assert _event_count(engine) == events
    # new events still apply on top of the old history: the credit settles instalments as they
    # fall due, and what is above the debt can be refunded
    first_due = build_schedule(PRODUCT, 60_000_00, START).instalments[0].due
    day = START
    while day <= first_due:
        assert not book.end_of_day(day).failures
        day += timedelta(days=1)
    after = LoanBook(engine).load("OLD")
    assert after.instalments[0].in_arrears() is False and after.credit < amount
    assert after.balances() == _sub_ledger(book, "OLD")
    book.apply("OLD", CreditRefund("refund", day, 1_000_00))
    assert LoanBook(engine).load("OLD").balances() == _sub_ledger(book, "OLD")
    assert book.trial_balance() == {"CNY": 0}
    url = engine.url.render_as_string(hide_password=False)
    verified = CliRunner().invoke(app, ["ledger", "verify", "--db", url])
    assert verified.exit_code == 0 and "balanced" in verified.output, verified.output
    shown = CliRunner().invoke(app, ["loans", "show", "OLD", "--json", "--db", url])
    assert shown.exit_code == 0 and '"reconciled": true' in shown.output, shown.output


def test_a_stored_full_prepayment_above_the_payoff_replays_closed_with_the_excess_as_credit(
        engine: Engine) -> None:
    book = LoanBook(engine)
    book.open("OLDP", PRODUCT)
    book.apply("OLDP", Disbursement("d", START, 60_000_00))
    # the old rules settled everything (principal only, on the day of disbursement) and held
    # the 5,000.00 beyond it as credit
    _store_as_accepted_before_the_payoff_rule(
        book, "OLDP", Prepayment("pre", START, 65_000_00),
        [("1001", 65_000_00), ("1301", -60_000_00), ("2241", -5_000_00)])
    loan = LoanBook(engine).load("OLDP")
    assert loan.status.value == "closed" and loan.credit == 5_000_00
    assert loan.balances() == _sub_ledger(book, "OLDP") == {"2241": -5_000_00}
    # the same prepayment, new, is refused
    book.open("NEWP", PRODUCT)
    book.apply("NEWP", Disbursement("d", START, 60_000_00))
    with pytest.raises(InvalidAmount):
        book.apply("NEWP", Prepayment("pre", START, 65_000_00))
    assert book.load("NEWP").status.value == "active"


def _content_before_rules_versions(event) -> SimpleNamespace:
    """`event` as the code before rules versions stored it: its content had no `rules` field."""
    content = {k: v for k, v in event.content().items() if k != "rules"}
    return SimpleNamespace(key=event.key, kind=event.kind, on=event.on, content=lambda: content)


def _reconciled_by_the_cli(engine: Engine, loan_id: str) -> None:
    from typer.testing import CliRunner

    from puhui.cli import app

    url = engine.url.render_as_string(hide_password=False)
    shown = CliRunner().invoke(app, ["loans", "show", loan_id, "--json", "--db", url])
    assert shown.exit_code == 0 and '"reconciled": true' in shown.output, shown.output


def test_a_stored_rules_1_repayment_of_the_payoff_replays_as_credit_on_an_open_loan(
        engine: Engine) -> None:
    """Rules 1 held a repayment beyond what was due as credit even when it covered everything
    owed, and the journal says so; the loan rebuilt from its events must agree with it."""
    book = LoanBook(engine)
    book.open("V1", PRODUCT)
    book.apply("V1", Disbursement("d", START, 60_000_00))
    assert book.load("V1").payoff_amount(START) == 60_000_00
    pay = Repayment("pay", START, 60_000_00)  # exactly the payoff; nothing is due yet
    _store_as_accepted_before_the_payoff_rule(book, "V1", _content_before_rules_versions(pay),
                                              [("1001", 60_000_00), ("2241", -60_000_00)])
    loan = LoanBook(engine).load("V1")
    assert loan.status.value == "active" and loan.credit == 60_000_00
    assert loan.balances() == _sub_ledger(book, "V1") == {"1301": 60_000_00, "2241": -60_000_00}
    _reconciled_by_the_cli(engine, "V1")
    # sending the command again is recognised as the stored event: nothing is written
    events = _event_count(engine)
    assert book.apply("V1", pay) == [] and _event_count(engine) == events
    # new events go on under the current rules, and the credit settles instalments as they fall
    # due, as it did under rules 1
    first_due = build_schedule(PRODUCT, 60_000_00, START).instalments[0].due
    day = START
    while day <= first_due:
        assert not book.end_of_day(day).failures
        day += timedelta(days=1)
    after = LoanBook(engine).load("V1")
    assert after.status.value == "active" and not after.instalments[0].in_arrears()
    assert 0 < after.credit < 60_000_00 and after.balances() == _sub_ledger(book, "V1")
    _reconciled_by_the_cli(engine, "V1")
    # the same receipt as a new event settles the loan the same day
    book.open("V2", PRODUCT)
    book.apply("V2", Disbursement("d", START, 60_000_00))
    book.apply("V2", pay)
    fresh = LoanBook(engine).load("V2")
    assert fresh.status.value == "closed" and fresh.credit == 0
    assert fresh.balances() == _sub_ledger(book, "V2") == {}
    _reconciled_by_the_cli(engine, "V2")
    assert book.trial_balance() == {"CNY": 0}


def test_a_stored_rules_1_partial_prepayment_covering_the_payoff_with_credit_replays_re_amortised(
        engine: Engine) -> None:
    """Rules 1 re-amortised a partial prepayment that covered the payoff only with the credit,
    leaving the credit held; the rebuilt loan must agree with the journal posted then."""
    from puhui.loans.events import PrepaymentMode

    book = LoanBook(engine)
    part = Prepayment("part", START, 40_000_00, PrepaymentMode.REDUCE_INSTALMENT)
    for loan_id in ("P1", "P2"):
        book.open(loan_id, PRODUCT)
        book.apply(loan_id, Disbursement("d", START, 60_000_00))
        book.apply(loan_id, Repayment("advance", START, 20_000_00))  # nothing due: credit
    # rules 1: the 40,000.00 repays principal of the running period, cut today, and the
    # remaining 20,000.00 is re-amortised over the rest of the term
    _store_as_accepted_before_the_payoff_rule(book, "P1", _content_before_rules_versions(part),
                                              [("1001", 40_000_00), ("1301", -40_000_00)])
    loan = LoanBook(engine).load("P1")
    assert loan.status.value == "active" and loan.credit == 20_000_00
    assert loan.principal_outstanding == 20_000_00 and loan.instalments[-1].due > START
    assert loan.balances() == _sub_ledger(book, "P1") == {"1301": 20_000_00, "2241": -20_000_00}
    _reconciled_by_the_cli(engine, "P1")
    events = _event_count(engine)
    assert book.apply("P1", part) == [] and _event_count(engine) == events
    # new: with the credit it covers the payoff, so it settles the loan
    book.apply("P2", part)
    fresh = LoanBook(engine).load("P2")
    assert fresh.status.value == "closed" and fresh.credit == 0
    assert fresh.balances() == _sub_ledger(book, "P2") == {}
    _reconciled_by_the_cli(engine, "P2")
    assert book.trial_balance() == {"CNY": 0}


def test_new_events_store_the_rules_they_were_accepted_under(engine: Engine) -> None:
    from puhui.store.loan_repo import LoanEventRepository

    book = LoanBook(engine)
    book.open("R", PRODUCT)
    book.apply("R", Disbursement("d", START, 60_000_00))
    book.apply("R", Repayment("pay", START, 1_000_00))
    with book.sessions() as session:
        stored = LoanEventRepository(session).events("R")
    assert [e["payload"]["rules"] for e in stored] == [2, 2]
    # the same command again is the same event; other content under its key is refused
    assert book.apply("R", Repayment("pay", START, 1_000_00)) == []
    with pytest.raises(IdempotencyConflict):
        book.apply("R", Repayment("pay", START, 1_000_01))
    assert _event_count(engine) == 2


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


def test_a_stored_event_is_found_by_its_key_from_a_fresh_book(engine: Engine) -> None:
    """A command sent again (a refund retried with its key after a restart) finds the event it
    stored, though a loan loaded from its snapshot carries no history."""
    from puhui.loans.events import CreditRefund

    book = LoanBook(engine)
    book.open("K", PRODUCT)
    book.apply("K", Disbursement("d", START, 10_000_00))
    book.apply("K", Repayment("r", START + timedelta(days=2), 300_00))  # held as credit
    book.apply("K", CreditRefund("rf", START + timedelta(days=2), 300_00))
    fresh = LoanBook(engine)
    with fresh.sessions() as session:
        assert fresh.stored_event(session, "K", "nope") is None
        stored = fresh.stored_event(session, "K", "rf")
        assert isinstance(stored, CreditRefund) and stored.amount == 300_00
        assert fresh.load_in(session, "K").history == []  # the snapshot holds no history
