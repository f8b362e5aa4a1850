"""Exact money: integer minor units, one currency at a time, no floats, explicit rounding."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.errors import CurrencyMismatch, InvalidAmount, MoneyError, PuhuiError, UnknownCurrency
from puhui.money import (
    Money, Rounding, allocate_units, check_currency, div_round, exponent, require_positive,
    round_units, total,
)


def test_arithmetic_stays_in_minor_units():
    a, b = Money(1_050), Money(275)
    assert a + b == Money(1_325)
    assert a - b == Money(775)
    assert b - a == Money(-775)
    assert -a == Money(-1_050)
    assert a * 3 == 3 * a == Money(3_150)
    assert Money(0).is_zero() and not a.is_zero()
    assert b < a <= a and a > b >= b
    assert total([a, b, Money(5)]) == Money(1_330)
    assert total([], "USD") == Money(0, "USD")


def test_money_refuses_to_mix_currencies():
    cny, usd = Money(100, "CNY"), Money(100, "USD")
    for op in (lambda: cny + usd, lambda: cny - usd, lambda: cny < usd, lambda: cny <= usd,
               lambda: cny > usd, lambda: cny >= usd, lambda: total([cny, usd])):
        with pytest.raises(CurrencyMismatch):
            op()
    assert cny != usd  # equal units, different currencies: not the same money
    assert issubclass(CurrencyMismatch, MoneyError) and issubclass(MoneyError, PuhuiError)


def test_money_only_multiplies_by_whole_numbers_and_scales_with_a_named_rounding():
    m = Money(1_001)
    with pytest.raises(TypeError):
        m * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        m * True  # type: ignore[operator]
    with pytest.raises(TypeError):
        m.scale(0.5)  # type: ignore[arg-type]
    assert m.scale(Decimal("0.5")) == Money(501)            # 500.5 -> 501 half-up
    assert m.scale(Decimal("0.5"), Rounding.HALF_EVEN) == Money(500)
    assert m.scale(Decimal("0.5"), Rounding.DOWN) == Money(500)
    assert m.scale(Decimal("0.001"), Rounding.UP) == Money(2)
    with pytest.raises(TypeError):
        m + 5  # type: ignore[operator]


@pytest.mark.parametrize("units", [1.0, 0.5, True, False, Decimal("1"), "100", None, 10**0.5])
def test_money_units_must_be_an_int(units):
    with pytest.raises(InvalidAmount):
        Money(units)  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["XXX", "cny", "", "RMB", None, 156])
def test_unknown_currencies_are_refused(currency):
    with pytest.raises(UnknownCurrency):
        Money(100, currency)  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrency):
        check_currency(currency)  # type: ignore[arg-type]


def test_money_of_is_exact_or_refuses():
    assert Money.of("12.34") == Money(1_234)
    assert Money.of("12.3") == Money(1_230)
    assert Money.of(Decimal("0.01")) == Money(1)
    assert Money.of(7) == Money(700)
    assert Money.of("-5.50") == Money(-550)
    assert Money.of("1234", "JPY") == Money(1_234, "JPY")
    assert Money.of("12.340000") == Money(1_234)  # trailing zeros are still exact
    assert exponent("JPY") == 0 and exponent("CNY") == 2
    for finer in ("12.345", "0.001", Decimal("1.005")):
        with pytest.raises(InvalidAmount):
            Money.of(finer)
    with pytest.raises(InvalidAmount):
        Money.of("1.5", "JPY")
    assert Money.of("12.345", rounding=Rounding.HALF_UP) == Money(1_235)
    assert Money.of("12.345", rounding=Rounding.HALF_EVEN) == Money(1_234)
    assert Money.of("12.345", rounding=Rounding.DOWN) == Money(1_234)
    assert Money.of("-12.341", rounding=Rounding.UP) == Money(-1_235)
    assert Money.of("1.5", "JPY", Rounding.HALF_EVEN) == Money(2, "JPY")
    for bad in (12.34, 0.1, True, "abc", "NaN", "Infinity", "-inf", "1e", ""):
        with pytest.raises(InvalidAmount):
            Money.of(bad)  # type: ignore[arg-type]


def test_money_amount_and_str_round_trip():
    m = Money(-123_456)
    assert m.amount == Decimal("-1234.56")
    assert str(m) == "-1234.56 CNY"
    assert str(Money(5, "JPY")) == "5 JPY"
    assert Money.of(m.amount) == m
    assert str(Money(7)) == "0.07 CNY"


@settings(max_examples=300, deadline=None)
@given(st.integers(-10**15, 10**15), st.sampled_from(["CNY", "USD", "JPY", "KRW", "EUR"]))
def test_money_of_round_trips_every_amount(units, currency):
    m = Money(units, currency)
    assert Money.of(m.amount, currency) == m
    assert Money.of(str(m.amount), currency) == m


def test_require_positive():
    assert require_positive(Money(1)) == Money(1)
    for units in (0, -1):
        with pytest.raises(InvalidAmount):
            require_positive(Money(units))


def test_allocate_examples():
    assert allocate_units(100, [1, 1, 1]) == [34, 33, 33]  # ties go to the earlier weight
    assert allocate_units(-100, [1, 1, 1]) == [-34, -33, -33]
    assert allocate_units(5, [0, 1]) == [0, 5]
    assert allocate_units(10, [3, 7]) == [3, 7]
    assert allocate_units(1, [1, 2]) == [0, 1]  # the larger remainder wins
    assert Money(100).allocate([1, 1, 1]) == [Money(34), Money(33), Money(33)]
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


def test_money_is_immutable():
    m = Money(100)
    with pytest.raises(AttributeError):
        m.units = 5  # type: ignore[misc]
