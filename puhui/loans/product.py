"""Loan products: the contract terms a schedule and a servicing engine are derived from.

A product is validated when it is made, so no schedule is ever built from impossible terms.  Each
product states its one rounding rule (default half-up to the fen); rounding residue always goes to
the last instalment.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from puhui.calendar import DayCount, Frequency, parse_rate
from puhui.errors import InvalidProduct, RateCapExceeded
from puhui.money import Rounding, check_currency

if TYPE_CHECKING:
    from puhui.loans.caps import CapProvenance


class RepaymentMethod(str, enum.Enum):
    EQUAL_INSTALMENT = "equal_instalment"  # 等额本息: level payment, amortising
    EQUAL_PRINCIPAL = "equal_principal"    # 等额本金: level principal, falling interest
    INTEREST_FIRST = "interest_first"      # 先息后本: interest each period, principal at maturity
    BULLET = "bullet"                      # 到期一次还本付息: one payment at maturity
    REVOLVING = "revolving"                # 随借随还: draw and repay any time, daily interest


class Component(str, enum.Enum):
    """The parts of a debt a repayment can be allocated to."""

    PENALTY = "penalty"
    FEE = "fee"
    INTEREST = "interest"
    PRINCIPAL = "principal"


@dataclass(frozen=True, slots=True)
class AllocationRule:
    """The repayment waterfall.

    `order` ranks the components; with `oldest_first` (the default) the oldest due instalment is
    cleared entirely before the next one, otherwise each component is cleared across all due
    instalments before the next component is touched.
    """

    order: tuple[Component, ...] = (Component.PENALTY, Component.FEE, Component.INTEREST,
                                    Component.PRINCIPAL)
    oldest_first: bool = True

    def __post_init__(self) -> None:
        if sorted(c.value for c in self.order) != sorted(c.value for c in Component):
            raise InvalidProduct(f"allocation order must name each component once: {self.order}")


@dataclass(frozen=True, slots=True)
class RateCap:
    """The ceiling on a loan's annualised all-in cost (e.g. 24%, or 4x the one-year LPR).

    `provenance` says where a platform cap came from (the cap setting's version and, for an
    LPR multiple, the LPR publication), so a decision or offer made under it can be replayed
    and explained; a cap written by hand has none.
    """

    annual_limit: Decimal
    label: str = "rate cap"
    provenance: "CapProvenance | None" = None

    @classmethod
    def lpr_multiple(cls, lpr: Decimal | str, multiple: int | Decimal = 4) -> "RateCap":
        lpr_rate = parse_rate(lpr, "LPR")
        return cls(lpr_rate * Decimal(multiple), f"{multiple}x LPR ({lpr_rate:%})")

    def check(self, annual_rate: Decimal, what: str = "rate") -> None:
        if annual_rate > self.annual_limit:
            raise RateCapExceeded(
                f"{what} {annual_rate:.4%} is above the {self.label} of {self.annual_limit:.4%}")


@dataclass(frozen=True, slots=True)
class LoanProduct:
    """Terms of a lending product.  Rates are annual nominal fractions (Decimal("0.12") = 12%)."""

    code: str
    method: RepaymentMethod
    annual_rate: Decimal
    term_periods: int | None = None        # instalment count (all methods but bullet/revolving)
    term_days: int | None = None           # bullet and revolving loans run in days
    frequency: Frequency = Frequency.MONTHLY
    day_count: DayCount = DayCount.THIRTY_360_US
    grace_periods: int = 0                 # leading periods that pay interest only
    repayment_day: int | None = None       # day of month instalments fall due (monthly only)
    min_first_period_days: int = 10        # a first period shorter than this rolls to the next month
    upfront_fee_rate: Decimal = Decimal(0)     # share of principal withheld from the disbursement
    upfront_fee_fixed: int = 0                  # fen withheld from the disbursement
    instalment_fee_rate: Decimal = Decimal(0)  # share of original principal charged each instalment
    instalment_fee_fixed: int = 0               # fen charged each instalment
    penalty_multiplier: Decimal = Decimal("1.5")  # 罚息: overdue principal bears rate x this
    rounding: Rounding = Rounding.HALF_UP
    currency: str = "CNY"
    min_principal: int = 100_00            # 100 yuan
    max_principal: int = 10_000_000_00     # 10 million yuan
    allocation: AllocationRule = field(default_factory=AllocationRule)
    name: str = ""

    def __post_init__(self) -> None:
        for name, kind in (("method", RepaymentMethod), ("frequency", Frequency),
                           ("day_count", DayCount), ("rounding", Rounding)):
            try:
                object.__setattr__(self, name, kind(getattr(self, name)))
            except ValueError:
                raise InvalidProduct(f"unknown {name} {getattr(self, name)!r}; "
                                     f"choose from {[k.value for k in kind]}") from None
        object.__setattr__(self, "penalty_multiplier", _multiplier(self.penalty_multiplier))
        object.__setattr__(self, "annual_rate", parse_rate(self.annual_rate, "annual_rate"))
        object.__setattr__(self, "upfront_fee_rate", parse_rate(self.upfront_fee_rate, "upfront_fee_rate"))
        object.__setattr__(self, "instalment_fee_rate",
                           parse_rate(self.instalment_fee_rate, "instalment_fee_rate"))
        check_currency(self.currency)
        self._check_terms()

    def _check_terms(self) -> None:
        def bad(msg: str) -> None:
            raise InvalidProduct(f"product {self.code!r}: {msg}")

        for name in ("term_periods", "term_days", "grace_periods", "repayment_day",
                     "min_first_period_days", "upfront_fee_fixed", "instalment_fee_fixed",
                     "min_principal", "max_principal"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                bad(f"{name} must be a whole number (fen or count), got {value!r}")
        if not isinstance(self.code, str):
            bad("code must be text")

        if not self.code:
            bad("a product needs a code")
        if self.method in (RepaymentMethod.BULLET, RepaymentMethod.REVOLVING):
            if not self.term_days or self.term_days < 1:
                bad(f"{self.method.value} loans need term_days >= 1")
            if self.term_periods is not None:
                bad(f"{self.method.value} loans run in days, not periods")
        else:
            if not self.term_periods or self.term_periods < 1:
                bad("instalment loans need term_periods >= 1")
            if self.term_days is not None:
                bad("instalment loans run in periods, not days")
            if not 0 <= self.grace_periods < self.term_periods:
                bad("grace_periods must leave at least one amortising period")
        if self.grace_periods and self.method is not RepaymentMethod.EQUAL_INSTALMENT \
                and self.method is not RepaymentMethod.EQUAL_PRINCIPAL:
            bad("a principal grace period only applies to amortising methods")
        if self.repayment_day is not None:
            if self.frequency is not Frequency.MONTHLY:
                bad("repayment_day applies to monthly products only")
            if not 1 <= self.repayment_day <= 31:
                bad("repayment_day must be 1..31")
        if self.min_first_period_days < 0:
            bad("min_first_period_days cannot be negative")
        if self.upfront_fee_fixed < 0 or self.instalment_fee_fixed < 0:
            bad("fees cannot be negative")
        if self.upfront_fee_rate >= 1:
            bad("the upfront fee cannot take the whole principal")
        if not Decimal(1) <= self.penalty_multiplier <= Decimal(10):
            bad("penalty_multiplier must be between 1 and 10")
        if not 0 < self.min_principal <= self.max_principal:
            bad("need 0 < min_principal <= max_principal")

    # -- derived terms --------------------------------------------------------------------------
    @property
    def penalty_rate(self) -> Decimal:
        """Annual penalty rate on overdue principal, exact to 1e-6."""
        return (self.annual_rate * self.penalty_multiplier).quantize(Decimal("0.000001"),
                                                                      self.rounding.decimal_mode)

    def upfront_fee(self, principal: int) -> int:
        return self.upfront_fee_fixed + _share(principal, self.upfront_fee_rate, self.rounding)

    def instalment_fee(self, principal: int) -> int:
        return self.instalment_fee_fixed + _share(principal, self.instalment_fee_rate, self.rounding)

    def check_principal(self, principal: int) -> None:
        from puhui.errors import InvalidAmount

        if isinstance(principal, bool) or not isinstance(principal, int):
            raise InvalidAmount(f"principal must be an int of minor units, got {principal!r}")
        if principal <= 0:
            raise InvalidAmount(f"principal must be positive, got {principal}")
        if not self.min_principal <= principal <= self.max_principal:
            raise InvalidAmount(f"principal {principal} outside product range "
                                f"{self.min_principal}..{self.max_principal}")
        if self.upfront_fee(principal) >= principal:
            raise InvalidAmount("the upfront fee would consume the whole principal")

    def check_cap(self, cap: RateCap) -> None:
        """Refuse a product whose nominal rate alone already breaks the cap."""
        cap.check(self.annual_rate, f"product {self.code!r} nominal rate")

    def to_dict(self) -> dict:
        """Plain JSON-able terms: stored with every loan so its history can be replayed exactly."""
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, AllocationRule):
                value = {"order": [c.value for c in value.order], "oldest_first": value.oldest_first}
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "LoanProduct":
        """Terms from `to_dict` output (or a config file); invalid terms raise `InvalidProduct`."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidProduct(f"unknown product fields: {sorted(unknown)}")
        values = dict(data)
        for name in ("annual_rate", "upfront_fee_rate", "instalment_fee_rate", "penalty_multiplier"):
            if name in values and isinstance(values[name], str):
                try:
                    values[name] = Decimal(values[name])
                except ArithmeticError:
                    raise InvalidProduct(f"{name} is not a number: {values[name]!r}") from None
        if "allocation" in values and isinstance(values["allocation"], dict):
            rule = values["allocation"]
            try:
                values["allocation"] = AllocationRule(tuple(Component(c) for c in rule["order"]),
                                                      bool(rule.get("oldest_first", True)))
            except (KeyError, ValueError) as exc:
                raise InvalidProduct(f"bad allocation rule {rule!r}") from exc
        try:
            return cls(**values)
        except TypeError as exc:
            raise InvalidProduct(str(exc)) from None

    def with_terms(self, **changes: object) -> "LoanProduct":
        """A copy with changed terms, validated again (used by rescheduling and offers)."""
        return replace(self, **changes)


def _multiplier(value: object) -> Decimal:
    """The penalty multiplier as an exact Decimal; floats and non-numbers are refused up front
    rather than failing later when the penalty rate is first derived."""
    if isinstance(value, (float, bool)) or not isinstance(value, (Decimal, int, str)):
        raise InvalidProduct(f"penalty_multiplier must be a Decimal, int or str, got {value!r}")
    try:
        result = Decimal(value)
    except ArithmeticError:
        raise InvalidProduct(f"penalty_multiplier is not a number: {value!r}") from None
    if not result.is_finite():
        raise InvalidProduct(f"penalty_multiplier must be finite, got {value!r}")
    return result


def _share(principal: int, rate: Decimal, rounding: Rounding) -> int:
    from puhui.money import round_units

    return round_units(Decimal(principal) * rate, rounding) if rate else 0
