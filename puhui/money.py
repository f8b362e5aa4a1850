"""Exact money: integer minor units plus an ISO 4217 currency.

Why integers: every balance in a loan book must add up to the fen, forever. Floats cannot promise
that and Decimal invites silent precision drift, so an amount is a plain `int` count of minor
units (fen for CNY) beside the currency code of its loan or entry, and every exact amount is
turned into minor units with a named rounding rule.
"""

from __future__ import annotations

import enum
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Sequence

from puhui.errors import InvalidAmount, UnknownCurrency

#: Minor-unit exponent of the currencies a Chinese lender meets in practice.
CURRENCY_EXPONENTS: dict[str, int] = {
    "CNY": 2, "HKD": 2, "MOP": 2, "TWD": 2, "USD": 2, "EUR": 2, "GBP": 2, "SGD": 2,
    "AUD": 2, "CAD": 2, "CHF": 2, "JPY": 0, "KRW": 0,
}
#: The largest amount (minor units) any single request or event may carry: 100 million yuan
#: (10^10 fen), ten times the largest product limit and far above any small-business loan.  The
#: API's request schemas declare it as each amount's `maximum`, the loan events refuse more, and
#: with every receipt also bounded by what is owed the ledger's sums stay many orders of
#: magnitude inside a signed 64-bit column.
MAX_AMOUNT = 10**10


class Rounding(str, enum.Enum):
    """A product's single rounding rule for turning exact amounts into minor units."""

    HALF_UP = "half_up"      # 四舍五入, the default of Chinese lending contracts
    HALF_EVEN = "half_even"  # banker's rounding
    DOWN = "down"            # towards zero: never charge a borrower a fraction more
    UP = "up"                # away from zero

    @property
    def decimal_mode(self) -> str:
        return _DECIMAL_MODES[self]


_DECIMAL_MODES = {
    Rounding.HALF_UP: ROUND_HALF_UP,
    Rounding.HALF_EVEN: ROUND_HALF_EVEN,
    Rounding.DOWN: ROUND_DOWN,
    Rounding.UP: ROUND_UP,
}


def check_currency(currency: str) -> str:
    """Return the currency code if Puhui knows it, else raise `UnknownCurrency`."""
    if not isinstance(currency, str) or currency not in CURRENCY_EXPONENTS:
        raise UnknownCurrency(f"unknown currency {currency!r}; known: {sorted(CURRENCY_EXPONENTS)}")
    return currency


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[check_currency(currency)]


def round_units(value: Decimal | int, rounding: Rounding = Rounding.HALF_UP) -> int:
    """Round an exact amount expressed in minor units to a whole number of minor units."""
    if isinstance(value, int):
        return value
    return int(value.to_integral_value(rounding=rounding.decimal_mode))


def div_round(numerator: int, denominator: int, rounding: Rounding = Rounding.HALF_UP) -> int:
    """Exact integer division with the product's rounding rule (no Decimal context involved).

    This is the one place integer interest arithmetic rounds, so the scalar and the vectorised
    code paths agree to the fen.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(numerator, denominator)  # floor division: 0 <= r < denominator
    if r == 0:
        return q
    if rounding is Rounding.HALF_UP:  # half away from zero
        twice = 2 * r
        if numerator >= 0:
            return q + 1 if twice >= denominator else q
        return q + 1 if twice > denominator else q
    if rounding is Rounding.HALF_EVEN:
        twice = 2 * r
        if twice > denominator or (twice == denominator and q % 2 == 1):
            return q + 1
        return q
    if rounding is Rounding.DOWN:  # towards zero
        return q if numerator >= 0 else q + 1
    return q + 1 if numerator >= 0 else q  # UP: away from zero


def allocate_units(total: int, weights: Sequence[int]) -> list[int]:
    """Largest-remainder split of `total` minor units by non-negative integer weights.

    The parts sum to `total` exactly; ties go to the earlier weight, so the result is deterministic.
    """
    if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
        raise InvalidAmount("weights must be non-negative with a positive sum")
    wsum = sum(weights)
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    floors = [magnitude * w // wsum for w in weights]
    remainders = [magnitude * w % wsum for w in weights]
    short = magnitude - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:short]:
        floors[i] += 1
    return [sign * f for f in floors]
