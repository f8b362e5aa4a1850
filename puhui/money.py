"""Exact money: integer minor units plus an ISO 4217 currency.

Why integers: every balance in a loan book must add up to the fen, forever. Floats cannot promise
that and Decimal invites silent precision drift, so a `Money` holds an `int` count of minor units
(fen for CNY) and arithmetic refuses to mix currencies.  Conversions from text or `Decimal` must be
exact unless a rounding rule is named; floats are refused outright.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Iterable, Sequence

from puhui.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency

#: Minor-unit exponent of the currencies a Chinese lender meets in practice.
CURRENCY_EXPONENTS: dict[str, int] = {
    "CNY": 2, "HKD": 2, "MOP": 2, "TWD": 2, "USD": 2, "EUR": 2, "GBP": 2, "SGD": 2,
    "AUD": 2, "CAD": 2, "CHF": 2, "JPY": 0, "KRW": 0,
}
DEFAULT_CURRENCY = "CNY"
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


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of one currency, held as integer minor units."""

    units: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if isinstance(self.units, bool) or not isinstance(self.units, int):
            raise InvalidAmount(f"Money.units must be an int count of minor units, got {self.units!r}")
        check_currency(self.currency)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def of(cls, amount: Decimal | str | int, currency: str = DEFAULT_CURRENCY,
           rounding: Rounding | None = None) -> "Money":
        """Money from a major-unit amount (``Money.of("12.34")`` is 1234 fen).

        Without a rounding rule the amount must already be exact to the minor unit.
        """
        if isinstance(amount, float) or isinstance(amount, bool):
            raise InvalidAmount("floats are not money: pass a str, int or Decimal")
        try:
            value = Decimal(amount) if not isinstance(amount, Decimal) else amount
        except Exception as exc:  # decimal.InvalidOperation and friends
            raise InvalidAmount(f"not an amount: {amount!r}") from exc
        if not value.is_finite():
            raise InvalidAmount(f"not a finite amount: {amount!r}")
        scaled = value.scaleb(exponent(currency))
        if rounding is None:
            if scaled != scaled.to_integral_value():
                raise InvalidAmount(
                    f"{amount} {currency} is finer than the minor unit; name a rounding rule")
            return cls(int(scaled), currency)
        return cls(round_units(scaled, rounding), currency)

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> "Money":
        return cls(0, currency)

    # -- views --------------------------------------------------------------------------------
    @property
    def amount(self) -> Decimal:
        """The amount in major units, exact."""
        return Decimal(self.units).scaleb(-exponent(self.currency))

    def __str__(self) -> str:
        return f"{self.amount:.{exponent(self.currency)}f} {self.currency}"

    def is_zero(self) -> bool:
        return self.units == 0

    # -- arithmetic ---------------------------------------------------------------------------
    def _same(self, other: object) -> "Money":
        if not isinstance(other, Money):
            raise TypeError(f"expected Money, got {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency} do not mix")
        return other

    def __add__(self, other: "Money") -> "Money":
        return Money(self.units + self._same(other).units, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        return Money(self.units - self._same(other).units, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.units, self.currency)

    def __mul__(self, factor: int) -> "Money":
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money multiplies by whole numbers only; use `scale` with a rounding rule")
        return Money(self.units * factor, self.currency)

    __rmul__ = __mul__

    def scale(self, factor: Decimal, rounding: Rounding = Rounding.HALF_UP) -> "Money":
        """Multiply by an exact factor (a rate, a share) and round once."""
        if not isinstance(factor, Decimal):
            raise TypeError("scale factor must be a Decimal")
        return Money(round_units(Decimal(self.units) * factor, rounding), self.currency)

    def __lt__(self, other: "Money") -> bool:
        return self.units < self._same(other).units

    def __le__(self, other: "Money") -> bool:
        return self.units <= self._same(other).units

    def __gt__(self, other: "Money") -> bool:
        return self.units > self._same(other).units

    def __ge__(self, other: "Money") -> bool:
        return self.units >= self._same(other).units

    def allocate(self, weights: Sequence[int]) -> list["Money"]:
        """Split by integer weights with the largest-remainder method: parts always sum to self."""
        return [Money(u, self.currency) for u in allocate_units(self.units, weights)]


def require_positive(money: Money, what: str = "amount") -> Money:
    """Raise `InvalidAmount` unless `money` is strictly positive (a loan of 0 fen is a mistake)."""
    if money.units <= 0:
        raise InvalidAmount(f"{what} must be positive, got {money}")
    return money


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


def total(amounts: Iterable[Money], currency: str = DEFAULT_CURRENCY) -> Money:
    """Sum of amounts of one currency (zero of `currency` for an empty iterable)."""
    result = Money.zero(currency)
    for m in amounts:
        result = result + m
    return result
