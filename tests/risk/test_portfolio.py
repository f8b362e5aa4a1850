"""Portfolio risk on constructed books with known answers: roll rates, vintage curves, NPL
ratio, expected loss, provisions and the month-end adjusting entry (puhui/risk/portfolio.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from puhui.ledger.accounts import Acct
from puhui.risk.errors import RiskDataError
from puhui.risk.portfolio import (
    InvalidPortfolioSettings,
    expected_loss,
    load_settings,
    npl_ratio,
    positions_frame,
    provision_entry,
    provisions,
    roll_rate_matrix,
    roll_rates,
    vintage_dpd30,
)

SETTINGS = load_settings()


def pos(loan_id: str, dpd: int = 0, principal: int = 100_000, status: str = "active",
        originated: date = date(2026, 1, 10), product: str = "SME-EI-12", accrued: int = 0,
        model_pd: float | None = 0.02) -> dict:
    from puhui.loans.delinquency import DEFAULT_POLICY
    return {"loan_id": loan_id, "product": product, "currency": "CNY",
            "originated_on": originated, "status": status, "dpd": dpd,
            "bucket": DEFAULT_POLICY.bucket(dpd), "risk_class": DEFAULT_POLICY.risk_class(dpd).value,
            "principal": principal, "accrued": accrued, "model_pd": model_pd}


def test_roll_rate_matrix_on_a_constructed_book() -> None:
    # last month: four current loans, two at 1-30, one at 31-60; this month: of the current,
    # two stay, one rolls to 1-30 and one pays off (absent); of the 1-30, one cures and one
    # rolls to 31-60; the 31-60 loan is written off
    before = positions_frame([pos("A"), pos("B"), pos("C"), pos("D", principal=300_000),
                              pos("E", 10), pos("F", 20, principal=300_000), pos("G", 40)])
    after = positions_frame([pos("A"), pos("B"), pos("C", 15), pos("E"), pos("F", 50),
                             pos("G", 70, status="written_off"), pos("H")])  # H is new
    rates = roll_rates(before, after)
    got = {(r["from_bucket"], r["to_bucket"]): (r["loans"], r["rate"], r["balance_rate"])
           for r in rates.iter_rows(named=True)}
    assert got == {("current", "current"): (2, 0.5, 200_000 / 600_000),
                   ("current", "1-30"): (1, 0.25, 100_000 / 600_000),
                   ("current", "closed"): (1, 0.25, 300_000 / 600_000),
                   ("1-30", "current"): (1, 0.5, 0.25),
                   ("1-30", "31-60"): (1, 0.5, 0.75),
                   ("31-60", "written_off"): (1, 1.0, 1.0)}
    matrix = roll_rate_matrix(rates)
    assert matrix["current"]["1-30"] == 0.25 and matrix["61-90"]["current"] == 0.0
    assert list(matrix) == ["current", "1-30", "31-60", "61-90", "90+"]
    for row in matrix.values():  # each from bucket's shares add up to one (or nothing)
        assert sum(row.values()) in (0.0, 1.0)


def test_vintage_curve_on_a_constructed_book() -> None:
    jan, feb = date(2026, 1, 5), date(2026, 2, 3)
    months = [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    # January cohort: 4 loans; J1 30+ at the end of February (month on book 2), J2 written
    # off at the end of April (month 4), J3 29 days at most (never counts), J4 clean
    paths = {"J1": [0, 31, 61, 91], "J2": [0, 0, 20, 0], "J3": [0, 29, 0, 0], "J4": [0, 0, 0, 0]}
    rows = []
    for loan, dpds in paths.items():
        for end, dpd in zip(months, dpds):
            status = "written_off" if (loan == "J2" and end == months[-1]) else "active"
            rows.append({**pos(loan, dpd, originated=jan, status=status), "month_end": end})
    # February cohort: 2 loans, F1 30+ at the end of March (month on book 2)
    for loan, dpds in {"F1": [0, 35, 0], "F2": [0, 0, 0]}.items():
        for end, dpd in zip(months[1:], dpds):
            rows.append({**pos(loan, dpd, originated=feb), "month_end": end})
    history = pl.DataFrame(rows)
    table = vintage_dpd30(history, date(2026, 4, 30))
    curve = {(r["cohort"], r["months_on_book"]): (r["loans"], r["defaults"])
             for r in table.iter_rows(named=True)}
    assert curve == {(date(2026, 1, 1), 1): (4, 0), (date(2026, 1, 1), 2): (4, 1),
                     (date(2026, 1, 1), 3): (4, 1),
                     (date(2026, 2, 1), 1): (2, 0), (date(2026, 2, 1), 2): (2, 1)}
    rates = table.filter(pl.col("cohort") == date(2026, 1, 1))["cumulative_default_rate"]
    assert rates.to_list() == [0.0, 0.25, 0.25]  # J2 falls in month 4, not yet observable


def test_npl_ratio_counts_substandard_doubtful_and_loss() -> None:
    book = positions_frame([pos("A", 0, 600_000), pos("B", 60, 100_000), pos("C", 91, 100_000),
                            pos("D", 271, 100_000), pos("E", 361, 100_000),
                            pos("F", 0, 500_000, status="closed")])
    got = npl_ratio(book)
    assert got["npl_principal"] == 300_000 and got["total_principal"] == 1_000_000
    assert got["npl_ratio"] == pytest.approx(0.3)
    assert [c["loans"] for c in got["classes"]] == [1, 1, 1, 1, 1]
    assert npl_ratio(positions_frame([]))["npl_ratio"] is None


def test_expected_loss_per_loan_and_total() -> None:
    book = positions_frame([pos("A", 0, 1_000_000, accrued=5_000, model_pd=0.02),
                            pos("B", 45, 200_000, model_pd=0.05),       # floor 0.20
                            pos("C", 100, 100_000, accrued=1_000),      # defaulted: PD 1
                            pos("D", 0, 100_000, model_pd=None),        # no score: 0.05
                            pos("E", 0, 100_000, status="closed")])
    el = {r["loan_id"]: r for r in expected_loss(book, SETTINGS).iter_rows(named=True)}
    assert set(el) == {"A", "B", "C", "D"}
    assert el["A"]["ead"] == 1_005_000 and el["A"]["expected_loss"] == 9_045  # .02 x .45
    assert el["B"]["pd"] == pytest.approx(0.2) and el["B"]["expected_loss"] == 18_000
    assert el["C"]["expected_loss"] == 45_450
    assert el["D"]["expected_loss"] == 2_250
    secured = load_settings({**_raw(), "lgd": {"unsecured": "0.45", "secured": "0.25",
                                               "by_product": {"SME-BUL-90": "0.6"},
                                               "secured_products": ["SME-IF-6"]}})
    other = positions_frame([pos("S", product="SME-IF-6", principal=1_000_000),
                             pos("P", product="SME-BUL-90", principal=1_000_000)])
    el = {r["loan_id"]: r["expected_loss"] for r in expected_loss(other, secured).iter_rows(named=True)}
    assert el == {"S": 5_000, "P": 12_000}


def _raw() -> dict:
    import json
    from importlib import resources
    return json.loads(resources.files("puhui.risk").joinpath("portfolio_rules").joinpath(
        "portfolio-2026.12.json").read_text("utf-8"))


def test_provisions_by_class_at_the_configured_rates() -> None:
    book = positions_frame([pos("A", 0, 1_000_050), pos("B", 1, 100_000), pos("C", 91, 100_001),
                            pos("D", 300, 100_000), pos("E", 400, 100_000),
                            pos("F", 0, 999_999, status="closed")])
    got = {p["risk_class"]: (p["loans"], p["base"], p["provision"]) for p in provisions(book, SETTINGS)}
    assert got == {"normal": (1, 1_000_050, 10_001),          # 10,000.5 rounds half up
                   "special_mention": (1, 100_000, 2_000),
                   "substandard": (1, 100_001, 25_000),       # 25,000.25
                   "doubtful": (1, 100_000, 50_000), "loss": (1, 100_000, 100_000)}


def test_the_adjusting_entry_posts_the_difference_and_balances() -> None:
    up = provision_entry(date(2026, 11, 1), 187_001, 150_000)
    assert up.booking_date == date(2026, 11, 30)
    assert up.event_key == "loan-loss-provision:2026-11"
    assert {(p.account, p.amount) for p in up.postings} == {
        (Acct.PROVISION_EXPENSE, 37_001), (Acct.LOAN_LOSS_ALLOWANCE, -37_001)}
    down = provision_entry(date(2026, 12, 31), 100_000, 187_001)
    assert {(p.account, p.amount) for p in down.postings} == {
        (Acct.PROVISION_EXPENSE, -87_001), (Acct.LOAN_LOSS_ALLOWANCE, 87_001)}
    assert sum(p.amount for p in down.postings) == 0
    assert provision_entry(date(2026, 12, 1), 5, 5) is None
    with pytest.raises(RiskDataError):
        provision_entry(date(2026, 12, 1), -1, 0)


@pytest.mark.parametrize("change, words", [
    ({"provision_rates": {"normal": "0.01"}}, "a rate for each"),
    ({"provision_rates": {"normal": "1.5", "special_mention": "0.02", "substandard": "0.25",
                          "doubtful": "0.5", "loss": "1"}}, "between 0 and 1"),
    ({"provision_base": "balance"}, "provision_base"),
    ({"pd_without_score": "x"}, "decimal"),
    ({"pd_floor_by_class": {"grim": "1"}}, "pd_floor_by_class"),
    ({"extra": 1}, "unknown fields"),
])
def test_bad_settings_are_refused_by_name(change, words) -> None:
    with pytest.raises(InvalidPortfolioSettings, match=words):
        load_settings({**_raw(), **change})


def test_positions_are_checked() -> None:
    with pytest.raises(RiskDataError, match="twice"):
        positions_frame([pos("A"), pos("A")])
    with pytest.raises(RiskDataError, match="status"):
        positions_frame([pos("A", status="pending")])
    assert SETTINGS.provision_rates[next(iter(SETTINGS.provision_rates))] == Decimal("0.01")


def test_a_vintage_dates_the_30_day_mark_back_from_the_month_end() -> None:
    # first seen on 30 April at 95 days past due: it reached 30 days on 24 February, in its
    # second month on book, not its fourth
    history = pl.DataFrame([{**pos("X", 95, originated=date(2026, 1, 5)),
                             "month_end": date(2026, 4, 30)},
                            {**pos("Y", 0, originated=date(2026, 1, 5)),
                             "month_end": date(2026, 4, 30)}])
    table = vintage_dpd30(history, date(2026, 4, 30))
    assert table["defaults"].to_list() == [0, 1, 1]
