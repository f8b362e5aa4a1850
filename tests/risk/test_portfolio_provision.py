"""The month-end provision over a book: positions valued at the month end (rebuilt from history
when events came after it), the allowance by class posted once per month as an adjusting entry
for the difference, months in order, the ledger balanced; and the portfolio report."""

from __future__ import annotations

from datetime import date

import pytest

from puhui.ledger.accounts import Acct
from puhui.loans.events import WriteOff
from puhui.services import portfolio as svc
from puhui.services.access import SYSTEM
from puhui.services.errors import AccessDenied, InvalidRequest
from puhui.store.ledger_repo import LedgerRepository
from warning_book_samples import OFFICER, PARTNER, book_loan, open_platform

TODAY = date(2027, 1, 5)


@pytest.fixture
def platform(db_url: str):
    p = open_platform(db_url, TODAY)
    try:
        book_loan(p, "LN-A", date(2026, 11, 15))   # first due 20 Dec: normal in November
        book_loan(p, "LN-B", date(2026, 6, 1))     # never pays: substandard by November
        book_loan(p, "LN-C", date(2026, 10, 1))    # never pays: 41 days late on 30 November
        with p.unit() as session:                  # B is written off in December
            p.book.apply_in(session, [("LN-B", WriteOff("wo:LN-B", date(2026, 12, 15),
                                                         reason="uncollectable"))])
        yield p
    finally:
        p.close()


def post(p, month):
    with p.unit() as session:
        return svc.post_provision(p, session, SYSTEM, month)


def ledger(p) -> tuple[dict, dict]:
    """Balances per account (CNY) and the trial balance per currency."""
    with p.read() as session:
        repo = LedgerRepository(session)
        return {a: v for (a, _), v in repo.balances().items()}, repo.trial_balance()


def provision_entries(p) -> list:
    with p.read() as session:
        return [e for e in LedgerRepository(session).entries()
                if (e.event_key or "").startswith("loan-loss-provision:")]


def test_provisions_posted_once_a_month_by_difference(platform) -> None:
    nov = post(platform, "2026-11")
    classes = {c["risk_class"]: (c["loans"], c["base"], c["provision"]) for c in nov["by_class"]}
    assert classes == {"normal": (1, 1_000_000, 10_000), "special_mention": (1, 1_000_000, 20_000),
                       "substandard": (1, 1_000_000, 250_000), "doubtful": (0, 0, 0),
                       "loss": (0, 0, 0)}
    assert (nov["required"], nov["previous"], nov["delta"]) == (280_000, 0, 280_000)
    assert nov["already_posted"] is False
    again = post(platform, "2026-11")
    assert again["already_posted"] is True and again["entry_seq"] == nov["entry_seq"]
    [entry] = provision_entries(platform)
    assert entry.booking_date == date(2026, 11, 30)
    assert {(x.account, x.amount) for x in entry.postings} == {
        (Acct.PROVISION_EXPENSE, 280_000), (Acct.LOAN_LOSS_ALLOWANCE, -280_000)}

    dec = post(platform, "2026-12")  # B written off; A and C 1-90 days late
    assert (dec["required"], dec["previous"], dec["delta"]) == (40_000, 280_000, -240_000)
    entries = provision_entries(platform)
    assert len(entries) == 2
    assert {(x.account, x.amount) for x in entries[1].postings} == {
        (Acct.PROVISION_EXPENSE, -240_000), (Acct.LOAN_LOSS_ALLOWANCE, 240_000)}
    balances, trial = ledger(platform)
    assert balances[Acct.LOAN_LOSS_ALLOWANCE] == -40_000  # the allowance now required
    assert balances[Acct.PROVISION_EXPENSE] == 40_000
    assert trial == {"CNY": 0}
    assert platform.book.verify_ledger() > 0


def test_months_in_order_and_only_ended_months(platform) -> None:
    post(platform, "2026-11")
    with pytest.raises(InvalidRequest, match="month by month"):
        post(platform, "2026-10")
    with pytest.raises(InvalidRequest, match="has not ended"):
        post(platform, "2027-01")
    with pytest.raises(InvalidRequest, match="YYYY-MM"):
        post(platform, "2026-13")
    assert len(provision_entries(platform)) == 1


def test_an_unchanged_allowance_posts_no_entry(db_url) -> None:
    p = open_platform(db_url, TODAY)
    try:
        book_loan(p, "LN-N", date(2026, 12, 25))  # paid out in December: first due 20 January
        nov = post(p, "2026-11")                   # nothing on the book yet
        assert (nov["required"], nov["entry_seq"]) == (0, None)
        dec = post(p, "2026-12")
        assert (dec["required"], dec["delta"]) == (10_000, 10_000) and dec["entry_seq"]
        assert len(provision_entries(p)) == 1
    finally:
        p.close()


def test_the_report(platform) -> None:
    post(platform, "2026-11")
    with platform.read() as session:
        report = svc.report(platform, session, OFFICER, "2026-12", loans=True)
        with pytest.raises(AccessDenied):
            svc.report(platform, session, PARTNER, "2026-12")
    assert report["month_end"] == "2026-12-31" and report["positions_stored"] is False
    moves = {(r["from_bucket"], r["to_bucket"]): r["loans"] for r in report["roll_rates"]}
    assert moves == {("current", "1-30"): 1, ("31-60", "61-90"): 1, ("90+", "written_off"): 1}
    assert report["roll_rate_matrix"]["90+"]["written_off"] == 1.0
    npl = report["npl"]
    assert npl["npl_principal"] == 0 and npl["total_principal"] == 2_000_000
    assert report["provision"]["required"] == 40_000 and report["provision"]["posted"] is None
    el = {r["loan_id"]: r for r in report["expected_loss"]["loans"]}
    assert set(el) == {"LN-A", "LN-C"}
    assert all(r["pd"] == pytest.approx(0.2) for r in el.values())  # special-mention floor
    assert report["expected_loss"]["total"] == sum(r["expected_loss"] for r in el.values())
    # vintages: the June cohort (B) reached 30+ days past due; November's (A) has not
    june = [v for v in report["vintage"] if v["cohort"] == "2026-06-01"]
    assert june and june[-1]["cumulative_default_rate"] == 1.0
    nov = [v for v in report["vintage"] if v["cohort"] == "2026-11-01"]
    assert nov and nov[-1]["defaults"] == 0


def test_the_month_end_job_posts_once(platform) -> None:
    first = svc.run_provision(platform, date(2027, 1, 1))
    assert first["month"] == "2026-12" and first["already_posted"] is False
    later = svc.run_provision(platform, TODAY)
    assert later["already_posted"] is True and later["entry_seq"] == first["entry_seq"]
    assert len(provision_entries(platform)) == 1
