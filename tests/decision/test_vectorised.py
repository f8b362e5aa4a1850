"""The vectorised evaluator gives, row for row, exactly what the scalar engine gives: outcome,
grade, amount, rate and first reason, on random facts with missing, malformed and boundary
values, for a policy using every operator and every on_missing setting."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decision_samples import GOOD, POLICY, PRODUCT, facts
from puhui.decision.engine import evaluate, evaluate_frame
from puhui.decision.errors import InvalidFacts
from puhui.decision.policy import default_policy, load_policy
from puhui.loans.product import RateCap

leaf = lambda fact, op, value=None: {"fact": fact, "op": op, "value": value}  # noqa: E731

EVERYTHING = load_policy({
    "name": "every-rule", "version": "every-1", "effective_from": "2026-11-01",
    "knockouts": [
        {"code": "AGE", "action": "decline", "message": "{owner_age}",
         "when": {"any": [leaf("owner_age", "<", 18), leaf("owner_age", ">", 65)]}},
        {"code": "TOO_YOUNG", "action": "decline", "on_missing": "decline", "message": "m",
         "when": leaf("business_months", "<", 6)},
        {"code": "SECTOR", "action": "decline", "on_missing": "ignore", "message": "{industry}",
         "when": leaf("industry", "in", ["gambling", "crypto"])},
        {"code": "NEW_SECTOR", "action": "refer", "message": "m",
         "when": leaf("industry", "not_in", ["retail", "catering", "gambling", "crypto"])},
        {"code": "COMPANY_ALONE", "action": "refer", "on_missing": "ignore", "message": "m",
         "when": {"all": [leaf("applicant_kind", "!=", "individual_business"),
                          leaf("has_guarantor", "==", False)]}},
        {"code": "NO_HISTORY", "action": "refer", "message": "m",
         "when": leaf("months_of_history", "is_missing")},
        {"code": "DELINQUENT", "action": "decline", "message": "{bureau_max_overdue_days}",
         "when": {"any": [leaf("bureau_max_overdue_days", ">", 90),
                          {"all": [leaf("bureau_overdue_months_12m", ">=", 3),
                                   leaf("bureau_enquiries_3m", ">=", 5)]}]}},
        {"code": "OVERDRAWN", "action": "decline", "on_missing": "ignore", "message": "m",
         "when": leaf("bank_min_balance_3m_fen", "<", -100_000)},
        {"code": "LOANS", "action": "refer", "on_missing": "ignore", "message": "m",
         "when": leaf("bureau_open_loans", "in", [6, 7.5, 8])},
        {"code": "DEVICES", "action": "refer", "on_missing": "decline", "message": "m",
         "when": leaf("app_new_devices_30d", "not_in", [0, 1])},
        {"code": "TAX", "action": "refer", "on_missing": "ignore", "message": "m",
         "when": leaf("tax_sales_consistency", "<=", 0.6)},
        {"code": "LATE_BILLS", "action": "refer", "on_missing": "ignore", "message": "m",
         "when": leaf("utility_late_payments_12m", "==", 3)},
        {"code": "POWER_DROP", "action": "refer", "on_missing": "ignore", "message": "m",
         "when": {"all": [leaf("electricity_growth_yoy", "!=", 0),
                          leaf("electricity_growth_yoy", "<", -0.5)]}},
        {"code": "ZERO_REVENUE", "action": "refer", "on_missing": "ignore", "message": "m",
         "when": leaf("revenue_avg_3m_fen", "in", [0, 100])},
        {"code": "GUARANTEED", "action": "refer", "on_missing": "ignore", "message": "m",
         "when": {"all": [leaf("has_guarantor", "is_true"), leaf("score", ">", 700)]}},
    ],
    "grades": {"bands": [{"grade": "A", "max_pd": 0.02}, {"grade": "B", "max_pd": 0.05},
                         {"grade": "C", "max_pd": 0.1}, {"grade": "D", "max_pd": 0.2}],
               "refer_pd_between": [0.15, 0.2]},
    "limits": {"share_of_verified_revenue": "1.75", "declared_revenue_haircut": "0.35",
               "grade_caps_fen": {"A": 500_000_00, "B": 300_000_00, "C": 100_000_00,
                                  "D": 30_000_00}},
    "pricing": {"rate_cap": {"annual_limit": "0.20", "label": "20%"},
                "grade_rates": {"A": "0.06", "B": "0.10", "C": "0.15", "D": "0.19"},
                "adjustments": [
                    {"code": "ADJ_APPLY", "add": "0.01", "on_missing": "apply", "message": "m",
                     "when": leaf("revenue_cv_6m", ">", 0.5)},
                    {"code": "ADJ_REFER", "add": "0.005", "message": "m",
                     "when": leaf("revenue_trend_12m", "<", -0.2)},
                    {"code": "ADJ_DECLINE", "add": "0.02", "on_missing": "decline", "message": "m",
                     "when": leaf("bank_inflow_outflow_ratio_3m", "<", 0.8)},
                    {"code": "ADJ_IGNORE", "add": "-0.01", "on_missing": "ignore", "message": "m",
                     "when": leaf("app_logins_30d", ">=", 20)}]},
    "referrals": {"guarantor_above_fen": 200_000_00, "refer_above_fen": 400_000_00},
})

def clipping(policy):
    """`policy` with prices above the binding cap clipped to it instead of declined."""
    d = policy.model_dump(mode="json")
    d["pricing"]["above_cap"] = "clip"
    return load_policy(d)


# fact -> (kind, values worth trying: thresholds and their neighbours)
SPEC = {
    "kyc_failures": ("number", [0, 0, 0, 1]),
    "blacklisted": ("bool", []),
    "data_errors": ("number", [0, 0, 0, 2]),
    "owner_age": ("number", [17, 18, 40, 65, 66, 17.999]),
    "business_months": ("number", [5, 6, 5.5, 36]),
    "industry": ("string", ["retail", "catering", "gambling", "crypto", "mining", ""]),
    "applicant_kind": ("string", ["individual_business", "enterprise"]),
    "has_guarantor": ("bool", []),
    "months_of_history": ("number", [3, 24]),
    "bureau_max_overdue_days": ("number", [0, 90, 90.0000001, 91]),
    "bureau_overdue_months_12m": ("number", [2, 3]),
    "bureau_enquiries_3m": ("number", [4, 5]),
    "bank_min_balance_3m_fen": ("money", [-100_000, -100_001, -100_000.5, -100_000.49, 0]),
    "bureau_open_loans": ("number", [6, 7.5, 7, 8]),
    "app_new_devices_30d": ("number", [0, 1, 2, -0.0]),
    "tax_sales_consistency": ("number", [0.6, 0.6000001, 0.3]),
    "utility_late_payments_12m": ("number", [3, 3.0, 2]),
    "electricity_growth_yoy": ("number", [0, -0.5, -0.6, -0.0]),
    "revenue_avg_3m_fen": ("money", [0, 100, 99.5, 100.4, 5_000_000]),
    "score": ("number", [700, 700.5, 650]),
    "pd": ("probability", [0.0, 0.02, 0.0200001, 0.05, 0.1, 0.15, 0.2, 0.2000001, 1.0, 1.5, -0.1]),
    "verified_revenue_monthly_fen": ("money", [0, 5_000_000, 12_345_678.5, 1e12, 1e12 + 1,
                                               -3_000_000]),
    "declared_monthly_revenue_fen": ("money", [0, 8_000_000, 10_000_001]),
    "requested_amount_fen": ("money", [1, 10_000_00, 30_000_00, 200_000_00, 200_000_01,
                                       400_000_01, 600_000_00]),
    "revenue_cv_6m": ("number", [0.5, 0.51]),
    "revenue_trend_12m": ("number", [-0.2, -0.21]),
    "bank_inflow_outflow_ratio_3m": ("number", [0.8, 0.79, 1.2]),
    "app_logins_30d": ("number", [19, 20]),
}
DTYPES = {"float": pl.Float64, "int": pl.Int64, "text": pl.String, "bool": pl.Boolean}


@st.composite
def column(draw, kind: str, special: list, n: int):
    """A column of `n` values for a fact: its mode (float, int, text, bool; or absent) is
    drawn first, since a frame column has one type."""
    modes = {"bool": ["bool", "bool", "bool", "int", "absent"],
             "string": ["text", "text", "text", "int", "absent"]}.get(
        kind, ["float", "float", "int", "int", "text", "absent"])
    mode = draw(st.sampled_from(modes))
    if mode == "absent":
        return None
    if mode == "bool":
        value = st.sampled_from([True, False, None])
    elif mode == "text":
        value = st.sampled_from([s for s in special if isinstance(s, str)] + ["12", "", None]
                                if kind == "string" else ["12", "x", None])
    elif mode == "int":
        value = st.one_of(st.sampled_from([int(v) for v in special if not isinstance(v, str)]
                                          + [None, 0]),
                          st.integers(-10**13, 10**13))
    else:
        value = st.one_of(st.sampled_from([float(v) for v in special if not isinstance(v, str)]
                                          + [None, float("nan"), float("inf"), -float("inf")]),
                          st.floats(-1e13, 1e13, allow_nan=False),
                          st.floats(0, 1, allow_nan=False))
    return pl.Series(draw(st.lists(value, min_size=n, max_size=n)), dtype=DTYPES[mode])


@st.composite
def frames(draw) -> pl.DataFrame:
    n = draw(st.integers(1, 8))
    columns = {}
    for name, (kind, special) in SPEC.items():
        series = draw(column(kind, special, n))
        if series is not None:
            columns[name] = series.alias(name)
    return pl.DataFrame(columns) if columns else pl.DataFrame({"unrelated": [0] * n})


def agree(policy, frame: pl.DataFrame, product, cap) -> None:
    out = evaluate_frame(policy, frame, product, platform_rate_cap=cap)
    assert out.columns == ["outcome", "grade", "amount", "annual_rate", "reason"]
    assert out.height == frame.height
    for i in range(frame.height):
        row = frame.row(i, named=True)
        r = evaluate(policy, row, product=product, platform_rate_cap=cap)
        expected = (r.outcome.value, r.grade, r.amount, r.annual_rate, r.reason_code)
        assert out.row(i) == expected, (row, [x.code for x in r.reasons])


PRODUCTS = st.builds(lambda low, high: PRODUCT.with_terms(min_principal=low, max_principal=high),
                     st.sampled_from([1, 10_000_00, 50_000_00]),
                     st.sampled_from([100_000_00, 500_000_00, 100_000_50]))
CAPS = st.sampled_from([None, RateCap(Decimal("0.15"), "tight"), RateCap(Decimal("0.36")),
                        RateCap(Decimal("0.1650001"), "odd"), RateCap(Decimal("0.12"), "4x LPR")])


@pytest.mark.parametrize("policy", [EVERYTHING, POLICY, default_policy(), clipping(EVERYTHING),
                                    clipping(POLICY)],
                         ids=["every-rule", "test", "shipped", "every-rule-clip", "test-clip"])
@settings(max_examples=60, deadline=None)
@given(frame=frames(), product=PRODUCTS, cap=CAPS)
def test_the_frame_evaluator_agrees_with_the_scalar_engine(policy, frame, product, cap):
    agree(policy, frame, product, cap)


def test_agreement_on_hand_picked_rows_and_a_larger_frame():
    rows = [facts(), facts(pd=0.09), facts(pd=None), facts(owner_age=70),
            facts(verified_revenue_monthly_fen=None), facts(requested_amount_fen=400_000_00),
            facts(kyc_failures=1), facts(blacklisted=True), facts(revenue_cv_6m=0.9)]
    frame = pl.DataFrame(rows * 50)
    agree(POLICY, frame, PRODUCT, None)
    out = evaluate_frame(POLICY, frame, PRODUCT)
    assert out["outcome"].value_counts().sort("outcome").rows() == [
        ("approve", 150), ("decline", 150), ("refer", 150)]


def test_columns_are_read_by_type_and_the_result_has_the_right_types():
    frame = pl.DataFrame([GOOD]).with_columns(pl.col("industry").cast(pl.Categorical))
    out = evaluate_frame(POLICY, frame, PRODUCT)
    assert out.schema == {"outcome": pl.String, "grade": pl.String, "amount": pl.Int64,
                          "annual_rate": pl.Decimal(38, 6), "reason": pl.String}
    assert out.row(0) == ("approve", "B", 100_000_00, Decimal("0.12"), None)
    assert evaluate_frame(POLICY, frame.head(0), PRODUCT).height == 0
    assert evaluate_frame(POLICY, pl.DataFrame(), PRODUCT).height == 0


def test_bad_frame_inputs_are_typed_errors():
    with pytest.raises(InvalidFacts, match="polars DataFrame"):
        evaluate_frame(POLICY, [GOOD], PRODUCT)  # type: ignore[arg-type]
    with pytest.raises(InvalidFacts, match="LoanProduct"):
        evaluate_frame(POLICY, pl.DataFrame([GOOD]), None)  # type: ignore[arg-type]
