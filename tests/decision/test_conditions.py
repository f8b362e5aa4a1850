"""Rule conditions: every operator, missing and ill-typed facts, Kleene all/any, and the Polars
form agreeing with the scalar one."""

from __future__ import annotations

import math

import polars as pl
import pytest

from puhui.decision.conditions import AllOf, AnyOf, Leaf
from puhui.decision.facts import FACT_KINDS
from puhui.decision.values import column, read, show

KINDS = {**FACT_KINDS, "sector": "string"}


def leaf(fact: str, op: str, value=None) -> Leaf:
    return Leaf(fact=fact, op=op, value=value)


def both(condition, facts: dict) -> bool | None:
    """The scalar result, after checking the vectorised one on a one-row frame agrees."""
    scalar = condition.test(facts, KINDS)
    frame = pl.DataFrame([facts]) if facts else pl.DataFrame({"x": [0]})
    (vector,) = frame.with_columns(condition.expr(frame.schema, KINDS).alias("r"))["r"].to_list()
    assert vector == scalar, (condition, facts)
    return scalar


@pytest.mark.parametrize("op, value, expected", [
    ("<", 6, True), ("<", 5, False), ("<=", 5, True), ("<=", 4.999, False),
    (">", 4, True), (">", 5, False), (">=", 5, True), (">=", 5.001, False),
    ("==", 5, True), ("==", 5.5, False), ("!=", 5, False), ("!=", 4, True),
    ("in", [1, 5, 9], True), ("in", [1, 9], False),
    ("not_in", [1, 9], True), ("not_in", [5], False),
])
def test_numeric_operators(op, value, expected):
    assert both(leaf("months_of_history", op, value), {"months_of_history": 5.0}) is expected
    assert both(leaf("months_of_history", op, value), {"months_of_history": 5}) is expected


def test_money_is_compared_in_whole_fen_rounding_float_noise_half_up():
    rule = leaf("revenue_avg_3m_fen", "<", 1_000_000)
    assert both(rule, {"revenue_avg_3m_fen": 999_999.0}) is True
    assert both(rule, {"revenue_avg_3m_fen": 999_999.5}) is False  # rounds up to 1,000,000
    assert both(rule, {"revenue_avg_3m_fen": 999_999.4999}) is True
    assert both(rule, {"revenue_avg_3m_fen": 1_000_000}) is False
    assert read(12_345.5, "money") == 12_346 and read(-12_345.5, "money") == -12_345
    assert read(10**13, "money") is None and read(1e13, "money") is None


@pytest.mark.parametrize("op, value, expected", [
    ("==", "retail", True), ("!=", "retail", False), ("in", ["a", "retail"], True),
    ("not_in", ["retail"], False), ("==", "Retail", False),
])
def test_string_operators(op, value, expected):
    assert both(leaf("industry", op, value), {"industry": "retail"}) is expected


def test_bool_operators():
    assert both(leaf("has_guarantor", "is_true"), {"has_guarantor": True}) is True
    assert both(leaf("has_guarantor", "is_true"), {"has_guarantor": False}) is False
    assert both(leaf("has_guarantor", "==", False), {"has_guarantor": False}) is True
    assert both(leaf("has_guarantor", "!=", True), {"has_guarantor": True}) is False
    # 1 is not a bool: the fact is unusable, so the condition is unknown
    assert both(leaf("has_guarantor", "is_true"), {"has_guarantor": 1}) is None


@pytest.mark.parametrize("value", [None, float("nan"), float("inf"), "12", True, [1], {"a": 1}])
def test_a_missing_or_ill_typed_fact_makes_every_comparison_unknown(value):
    facts = {"months_of_history": value}
    for op, constant in (("<", 1), (">=", 1), ("==", 1), ("!=", 1), ("in", [1]),
                         ("not_in", [1])):
        assert leaf("months_of_history", op, constant).test(facts, KINDS) is None
    assert leaf("months_of_history", "is_missing").test(facts, KINDS) is True
    assert leaf("months_of_history", "is_missing").test({}, KINDS) is True
    assert leaf("months_of_history", "is_missing").test({"months_of_history": 0}, KINDS) is False


def test_an_absent_column_is_missing_in_a_frame():
    frame = pl.DataFrame({"other": [1, 2]})
    out = frame.with_columns(  # with_columns: a literal still gets one value per row
        leaf("months_of_history", "<", 6).expr(frame.schema, KINDS).alias("r"),
        leaf("months_of_history", "is_missing").expr(frame.schema, KINDS).alias("m"))
    assert out["r"].to_list() == [None, None] and out["m"].to_list() == [True, True]


def test_a_column_of_the_wrong_type_is_missing_throughout():
    frame = pl.DataFrame({"pd": ["0.1", "0.2"], "has_guarantor": [1, 0]})
    out = frame.with_columns(column(frame.schema, "pd", "probability").alias("pd"),
                             column(frame.schema, "has_guarantor", "bool").alias("g"))
    assert out["pd"].to_list() == [None, None] and out["g"].to_list() == [None, None]


def test_probabilities_outside_zero_to_one_are_unusable():
    assert read(1.5, "probability") is None and read(-0.01, "probability") is None
    assert read(1, "probability") == 1.0 and read(0, "probability") == 0.0


T, F, U = ({"x": 1.0}, "T"), ({"x": 9.0}, "F"), ({"x": None}, "U")  # x < 5: true/false/unknown


@pytest.mark.parametrize("left, right, all_, any_", [
    ("T", "T", True, True), ("T", "F", False, True), ("T", "U", None, True),
    ("F", "F", False, False), ("F", "U", False, None), ("U", "U", None, None),
    ("U", "T", None, True), ("F", "T", False, True), ("U", "F", False, None),
])
def test_all_and_any_follow_kleene_logic(left, right, all_, any_):
    value = {"T": 1.0, "F": 9.0, "U": None}
    facts = {"months_of_history": value[left], "bureau_open_loans": value[right]}
    parts = [leaf("months_of_history", "<", 5), leaf("bureau_open_loans", "<", 5)]
    assert both(AllOf(all=parts), facts) is all_
    assert both(AnyOf(any=parts), facts) is any_


def test_nested_conditions_and_the_facts_they_read():
    rule = AnyOf(any=[AllOf(all=[leaf("owner_age", ">=", 18), leaf("owner_age", "<=", 65)]),
                      leaf("has_guarantor", "is_true"), leaf("owner_age", "is_missing")])
    assert rule.facts() == ["owner_age", "has_guarantor"]
    assert both(rule, {"owner_age": 70, "has_guarantor": False}) is False
    assert both(rule, {"owner_age": 70, "has_guarantor": True}) is True
    assert both(rule, {"owner_age": 40, "has_guarantor": None}) is True
    assert both(rule, {"owner_age": None, "has_guarantor": None}) is True


def test_values_are_shown_for_people():
    assert show(12_345_67.0, "money") == "12,345.67 yuan"
    assert show(0.0312, "probability") == "3.12%"
    assert show(7.0, "number") == "7" and show(0.8125, "number") == "0.8125"
    assert show(True, "bool") == "yes" and show(math.nan, "number") == "missing"
    assert show("abc", "number") == "missing" and show("abc", "string") == "abc"
