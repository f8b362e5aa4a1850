"""The batch close against the per-loan servicing engine, the reference.

Random books (every repayment method, revolving lines, day counts, rounding rules, fees,
penalty rates, currencies) are run for many days two ways:

- the reference: each loan an in-memory `Loan`/`RevolvingLine`, closed every day with
  `EndOfDay` after the day's events, every posting kept per loan;
- the product: a persisted `LoanBook`, the same events applied through it and each day closed
  by `LoanBook.end_of_day` (the batch close: partitions, the vectorised kernel for plain loans,
  the scalar engine for the rest, product entries in the general ledger).

Between closes: repayments (partial, exact, above what is due), prepayments in every mode,
reversals of receipts, reschedules, write-offs, recoveries, refunds, draws.  After every day:
each loan's state and balances, its sub-ledger, the general ledger per account, the entries of
the day per account, and the stored events must be identical, and every loan rebuilt from its
history alone must equal its snapshot.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from puhui.book import LoanBook, new_account
from puhui.errors import PuhuiError
from puhui.ledger.journal import balances_of
from puhui.loans.events import (
    CreditRefund, Disbursement, Draw, EndOfDay, LineOpening, PaymentReversal, Prepayment,
    PrepaymentMode, Recovery, Repayment, Reschedule, WaivedCharge, Waiver, WriteOff,
)
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.loans.revolving import RevolvingLine
from puhui.loans.snapshot import to_state
from puhui.loans.state import LoanStatus
from puhui.calendar import DayCount, Frequency
from puhui.money import Rounding
from puhui.store.db import make_engine, migrate
from puhui.store.models import JournalEntryRow, JournalPostingRow, LoanEventRow

ONE = timedelta(days=1)
START = date(2026, 1, 28)
METHODS = (RepaymentMethod.EQUAL_INSTALMENT, RepaymentMethod.EQUAL_PRINCIPAL,
           RepaymentMethod.INTEREST_FIRST, RepaymentMethod.BULLET, RepaymentMethod.REVOLVING)


@st.composite
def products(draw) -> LoanProduct:
    method = draw(st.sampled_from(METHODS))
    kw: dict = dict(
        annual_rate=Decimal(draw(st.sampled_from([0, 36_500, 120_000, 180_000, 239_999])))
        / 1_000_000,
        day_count=draw(st.sampled_from(list(DayCount))),
        rounding=draw(st.sampled_from(list(Rounding))),
        currency=draw(st.sampled_from(["CNY", "CNY", "USD"])),
        upfront_fee_rate=draw(st.sampled_from([Decimal(0), Decimal("0.01")])),
        instalment_fee_fixed=0 if method is RepaymentMethod.REVOLVING
        else draw(st.sampled_from([0, 0, 300])),
        penalty_multiplier=draw(st.sampled_from([Decimal("1.5"), Decimal(1), Decimal(2)])),
    )
    if method in (RepaymentMethod.BULLET, RepaymentMethod.REVOLVING):
        kw["term_days"] = draw(st.integers(5, 45))
    else:
        kw["term_periods"] = draw(st.integers(1, 6))
        kw["frequency"] = draw(st.sampled_from([Frequency.MONTHLY, Frequency.WEEKLY,
                                                Frequency.BIWEEKLY, Frequency.DAILY]))
    return LoanProduct(f"P{method.value[:6]}", method, **kw)


#: what may happen to a loan on a day: (kind, a fraction of the relevant amount in 1/8ths)
INTENTS = st.tuples(st.sampled_from(["repay", "repay", "repay_all", "prepay_reduce",
                                     "prepay_shorten", "prepay_full", "reverse", "reschedule",
                                     "write_off", "recover", "refund", "draw",
                                     "waive_penalty", "waive_fee"]),
                    st.integers(1, 12))


@st.composite
def books(draw) -> tuple[list[tuple[LoanProduct, int, int]], int, dict]:
    loans = []
    for _ in range(draw(st.integers(1, 5))):
        product = draw(products())
        principal = draw(st.integers(1_000_00, 80_000_00))
        opened = draw(st.integers(0, 6))
        loans.append((product, principal, opened))
    days = draw(st.integers(10, 75))
    plan = draw(st.dictionaries(st.tuples(st.integers(0, days - 1), st.integers(0, len(loans) - 1)),
                                INTENTS, max_size=days))
    return loans, days, plan


def _event(intent: tuple[str, int], account, day: date, key: str):
    """A concrete event for `intent` sized from the reference account (None: nothing to do)."""
    kind, eighths = intent
    if isinstance(account, RevolvingLine):
        owed = account.owed()
        if kind == "draw":
            amount = account.limit * eighths // 16
            return Draw(key, day, amount) if amount > 0 else None
        if kind in ("repay", "repay_all") and owed:
            return Repayment(key, day, owed if kind == "repay_all" else max(1, owed * eighths // 8))
    else:
        due = account.payoff_amount(day) if account.status is LoanStatus.ACTIVE else 0
        if kind == "repay" and due:
            return Repayment(key, day, max(1, due * eighths // 16))
        if kind == "repay_all" and due:
            return Repayment(key, day, due)
        if kind.startswith("prepay") and due:
            mode = {"prepay_reduce": PrepaymentMode.REDUCE_INSTALMENT,
                    "prepay_shorten": PrepaymentMode.SHORTEN_TERM}.get(kind, PrepaymentMode.FULL)
            amount = due if mode is PrepaymentMode.FULL else max(1, due * eighths // 12)
            return Prepayment(key, day, amount, mode)
        if kind == "reschedule":
            return Reschedule(key, day, periods=eighths % 5 + 1)
        if kind == "recover" and account.status is LoanStatus.WRITTEN_OFF:
            left = account.written_off_amount - account.recovered
            return Recovery(key, day, max(1, left * eighths // 12)) if left > 0 else None
    if kind == "write_off":
        return WriteOff(key, day, reason="uncollectable")
    if kind == "waive_penalty" and account.penalty_receivable > 0:
        # what is receivable before the day's catch-up: never more than after it
        return Waiver(key, day, WaivedCharge.PENALTY,
                      max(1, account.penalty_receivable * eighths // 12), reason="hardship")
    if kind == "waive_fee" and not isinstance(account, RevolvingLine) \
            and account.fee_receivable > 0:
        return Waiver(key, day, WaivedCharge.FEE, max(1, account.fee_receivable * eighths // 12))
    if kind == "refund" and account.credit > 0:
        return CreditRefund(key, day, max(1, account.credit * eighths // 12))
    if kind == "reverse":
        paid = [e.key for e, _ in account.history
                if isinstance(e, (Repayment, Prepayment, Recovery, CreditRefund))
                and e.key not in account.reversed]
        if paid:
            return PaymentReversal(key, day, target=paid[eighths % len(paid)], reason="bounced")
    return None


def _journal(engine: Engine) -> tuple[dict[tuple[date, str, str], int], int]:
    """The general ledger per (booking date, account, currency), and its entry count."""
    out: dict[tuple[date, str, str], int] = defaultdict(int)
    with engine.connect() as conn:
        rows = conn.execute(select(JournalEntryRow.booking_date, JournalPostingRow.account,
                                   JournalPostingRow.currency, JournalPostingRow.amount)
                            .join(JournalEntryRow,
                                  JournalEntryRow.seq == JournalPostingRow.entry_seq)).all()
        count = len(conn.execute(select(JournalEntryRow.seq)).all())
    for on, account, currency, amount in rows:
        out[(on, account, currency)] += amount
    return {k: v for k, v in out.items() if v}, count


def run_both_ways(engine: Engine, loans, days: int, plan: dict, partition: int) -> None:
    book = LoanBook(engine)
    ref: dict[str, object] = {}
    postings: dict[tuple[date, str, str], int] = defaultdict(int)
    ids = [f"L{n:03d}" for n in range(len(loans))]

    def post(drafts) -> None:
        for d in drafts:
            for p in d.postings:
                postings[(d.booking_date, p.account, p.currency)] += p.amount

    def both(loan_id: str, event) -> None:
        account = ref[loan_id]
        try:
            drafts = account.apply(event)
        except PuhuiError as exc:
            with pytest.raises(type(exc)):
                book.apply(loan_id, event)
            return
        book.apply(loan_id, event)
        post(drafts)

    try:
        for loan_id, (product, _, _) in zip(ids, loans):
            book.open(loan_id, product)
            ref[loan_id] = new_account(loan_id, product)
        for n in range(days):
            day = START + n * ONE
            for loan_id, (product, principal, opened) in zip(ids, loans):
                if opened == n:
                    principal = max(principal, product.min_principal)
                    principal = min(principal, product.max_principal)
                    first = (LineOpening("open", day, principal)
                             if product.method is RepaymentMethod.REVOLVING
                             else Disbursement("pay-out", day, principal))
                    both(loan_id, first)
                    if product.method is RepaymentMethod.REVOLVING:
                        both(loan_id, Draw("first-draw", day, principal // 2))
            for (k, index), intent in sorted(plan.items()):
                if k == n and ref[ids[index]].status is not LoanStatus.PENDING:
                    event = _event(intent, ref[ids[index]], day, f"e{n}")
                    if event is not None:
                        both(ids[index], event)
            # the reference closes every loan the batch close takes: active, paid out by today
            for loan_id in ids:
                account = ref[loan_id]
                opened_on = (account.opened_on if isinstance(account, RevolvingLine)
                             else account.disbursed_on)
                if account.status is LoanStatus.ACTIVE and opened_on is not None \
                        and opened_on <= day:
                    post(account.apply(EndOfDay(f"eod:{day}", day)))
            report = book.end_of_day(day, batch=partition)
            assert report.failures == {}
            # every loan, its sub-ledger, and its history alone
            for loan_id in ids:
                account = ref[loan_id]
                stored = book.load(loan_id)
                assert to_state(stored) == to_state(account), (day, loan_id)
                with book.sessions() as session:
                    assert to_state(book.replay(session, loan_id).account) == to_state(account)
            # the general ledger, per day and account
            journal, _ = _journal(engine)
            assert journal == {k: v for k, v in postings.items() if v}, day
        for loan_id in ids:
            account = ref[loan_id]
            own = {k: v for k, v in balances_of(account.posted()).items() if v}
            assert book.sub_ledger(loan_id) == own, loan_id
        # the stored events are the reference's, the daily closes aside
        with engine.connect() as conn:
            stored = conn.execute(select(LoanEventRow.loan_id, LoanEventRow.event_key)
                                  .order_by(LoanEventRow.chain_seq)).all()
        expected = [(loan_id, e.key) for loan_id in ids for e, _ in ref[loan_id].history
                    if not isinstance(e, EndOfDay)]
        assert sorted(stored) == sorted(expected)
        assert book.trial_balance() == {c: 0 for c in book.trial_balance()}
    finally:
        book.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for every example (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("close") / "template.sqlite"
    migrate(f"sqlite:///{path}")
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(book=books(), partition=st.sampled_from([1, 2, 3, 20_000]))
def test_random_books_close_the_same_both_ways(template: Path, tmp_path_factory, book,
                                               partition: int) -> None:
    loans, days, plan = book
    path = tmp_path_factory.mktemp("ex") / "book.sqlite"
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        run_both_ways(engine, loans, days, plan, partition)
    finally:
        engine.dispose()


def test_a_mixed_book_closes_the_same_both_ways_on_both_databases(engine: Engine) -> None:
    """One fixed book with every product kind and most events, on SQLite and PostgreSQL."""
    products_ = [
        LoanProduct("EI", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.18"), term_periods=3,
                    instalment_fee_fixed=300, upfront_fee_rate=Decimal("0.01")),
        LoanProduct("EP", RepaymentMethod.EQUAL_PRINCIPAL, Decimal("0.12"), term_periods=2,
                    frequency=Frequency.BIWEEKLY, rounding=Rounding.DOWN),
        LoanProduct("BU", RepaymentMethod.BULLET, Decimal("0.0365"), term_days=20,
                    day_count=DayCount.ACT_360),
        LoanProduct("RV", RepaymentMethod.REVOLVING, Decimal("0.1825"), term_days=25),
        LoanProduct("IF", RepaymentMethod.INTEREST_FIRST, Decimal("0.24"), term_periods=2,
                    currency="USD", rounding=Rounding.HALF_EVEN),
    ]
    loans = [(p, 30_000_00, n % 3) for n, p in enumerate(products_)]
    plan = {(5, 0): ("repay", 3), (12, 1): ("prepay_reduce", 4), (15, 2): ("repay", 5),
            (16, 2): ("reverse", 1), (20, 3): ("draw", 2), (33, 3): ("repay_all", 1),
            (40, 0): ("write_off", 1), (45, 0): ("recover", 6), (50, 4): ("reschedule", 2),
            (52, 4): ("repay", 8), (60, 1): ("repay_all", 1), (62, 1): ("refund", 12),
            (30, 3): ("waive_penalty", 6), (35, 0): ("waive_fee", 12),
            (38, 0): ("waive_penalty", 12)}
    run_both_ways(engine, loans, 70, plan, partition=2)


def test_a_book_closed_by_per_loan_events_goes_on_under_the_batch_close(engine: Engine) -> None:
    """A book from before snapshots stored each loan's close as an `EndOfDay` event and has no
    snapshots or positions: its first batch close positions its loans from their histories and
    goes on exactly where the per-loan closes stopped."""
    from sqlalchemy import delete

    from puhui.store.close_models import LoanPositionRow, LoanSnapshotRow

    product = LoanProduct("EI", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.18"), term_periods=2,
                          frequency=Frequency.WEEKLY, instalment_fee_fixed=300)
    book = LoanBook(engine)
    reference = new_account("OLD", product)
    book.open("OLD", product)
    for event in [Disbursement("d", START, 20_000_00)] + [
            EndOfDay(f"eod:{START + n * ONE}", START + n * ONE) for n in range(9)]:
        book.apply("OLD", event)  # the old close: one stored event per loan and day
        reference.apply(event)
    with engine.begin() as conn:  # as migration 0011 finds such a book
        conn.execute(delete(LoanSnapshotRow))
        conn.execute(delete(LoanPositionRow))
    book = LoanBook(engine)
    for n in range(9, 25):
        day = START + n * ONE
        reference.apply(EndOfDay(f"eod:{day}", day))
        assert book.end_of_day(day).failures == {}
        assert to_state(book.load("OLD")) == to_state(reference), day
    assert book.sub_ledger("OLD") == {k: v for k, v in balances_of(reference.posted()).items()
                                      if v}
    assert book.verify_snapshots().agrees
