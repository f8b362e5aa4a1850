"""Exact money: integer minor units, known currencies, explicit rounding."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.errors import InvalidAmount, MoneyError, PuhuiError, UnknownCurrency
from puhui.money import Rounding, allocate_units, check_currency, div_round, exponent, round_units


@pytest.mark.parametrize("currency", ["XXX", "cny", "", "RMB", None, 156])
def test_unknown_currencies_are_refused(currency):
    with pytest.raises(UnknownCurrency):
        check_currency(currency)  # type: ignore[arg-type]


def test_known_currencies_and_their_minor_units():
    assert check_currency("CNY") == "CNY"
    assert exponent("JPY") == 0 and exponent("CNY") == 2
    assert issubclass(UnknownCurrency, MoneyError) and issubclass(MoneyError, PuhuiError)


def test_allocate_examples():
    assert allocate_units(100, [1, 1, 1]) == [34, 33, 33]  # ties go to the earlier weight
    assert allocate_units(-100, [1, 1, 1]) == [-34, -33, -33]
    assert allocate_units(5, [0, 1]) == [0, 5]
    assert allocate_units(10, [3, 7]) == [3, 7]
    assert allocate_units(1, [1, 2]) == [0, 1]  # the larger remainder wins
    for weights in ([], [0, 0], [1, -1]):
        with pytest.raises(InvalidAmount):
            allocate_units(10, weights)


@settings(max_examples=400, deadline=None)
@given(st.integers(-10**12, 10**12), st.lists(st.integers(0, 10**6), min_size=1, max_size=12)
       .filter(lambda w: sum(w) > 0))
def test_allocate_units_sums_to_total_and_is_fair(amount, weights):
    parts = allocate_units(amount, weights)
    assert sum(parts) == amount
    assert len(parts) == len(weights)
    wsum = sum(weights)
    for part, w in zip(parts, weights):
        exact = abs(amount) * w / wsum  # each part is the floor or ceiling of its exact share
        assert abs(part) - exact > -1 and abs(part) - exact < 1
        assert part == 0 or (part > 0) == (amount > 0)
        if w == 0:
            assert part == 0


def reference_round(numerator: int, denominator: int, rounding: Rounding) -> int:
    """numerator / denominator rounded to an integer through Decimal.quantize."""
    with localcontext() as ctx:
        ctx.prec = 120
        q = Decimal(numerator) / Decimal(denominator)
        return int(q.quantize(Decimal(1), rounding=rounding.decimal_mode))


@pytest.mark.parametrize("rounding,expected", [
    (Rounding.HALF_UP, [3, 2, -2, -3, 0, 1, -1]),
    (Rounding.HALF_EVEN, [2, 2, -2, -2, 0, 0, 0]),
    (Rounding.DOWN, [2, 2, -2, -2, 0, 0, 0]),
    (Rounding.UP, [3, 3, -3, -3, 1, 1, -1]),
])
def test_div_round_named_cases(rounding, expected):
    cases = [(5, 2), (9, 4), (-9, 4), (-5, 2), (1, 3), (1, 2), (-1, 2)]
    assert [div_round(n, d, rounding) for n, d in cases] == expected


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.integers(-10**30, 10**30), st.integers(-1000, 1000)),
       st.one_of(st.integers(1, 10**20), st.integers(1, 64)),
       st.sampled_from(list(Rounding)))
def test_div_round_agrees_with_decimal_quantize(numerator, denominator, rounding):
    assert div_round(numerator, denominator, rounding) == \
        reference_round(numerator, denominator, rounding)


@settings(max_examples=300, deadline=None)
@given(st.integers(-10**6, 10**6), st.integers(1, 1000), st.sampled_from(list(Rounding)))
def test_div_round_exact_halves(k, denominator, rounding):
    # (2k + 1) / 2 is always a tie: the rule decides alone
    n = (2 * k + 1) * denominator
    assert div_round(n, 2 * denominator, rounding) == reference_round(n, 2 * denominator, rounding)


def test_div_round_refuses_a_non_positive_denominator():
    for d in (0, -3):
        with pytest.raises(ValueError):
            div_round(10, d)


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=-10**9, max_value=10**9, places=4, allow_nan=False,
                   allow_infinity=False), st.sampled_from(list(Rounding)))
def test_round_units_matches_decimal_rounding(value, rounding):
    assert round_units(value, rounding) == int(value.quantize(Decimal(1), rounding.decimal_mode))
    assert round_units(int(value), rounding) == int(value)
