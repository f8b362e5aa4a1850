"""The platform's rate cap as a versioned setting: which ceiling on the annualised cost applied
on which day, and why.

Why a setting and not a constant: the ceiling licensed lenders are held to is set by
regulation and by each lender's own commitments, and it moves.  It is either a fixed rate
(24%) or a multiple of the one-year Loan Prime Rate (4x LPR), and the LPR itself is published
monthly.  Every decision and offer must say which cap it was checked against, so the setting is
kept as history, never edited:

- a `CapVersion` says "from `effective_from` on, the cap is a fixed `rate`" or "... is
  `multiple` x the one-year LPR in force"; a new version supersedes the one before from its own
  effective date;
- an `LprPublication` is an LPR value an operator recorded, with the date the National
  Interbank Funding Center published it and the date it takes effect here;
- `CapSchedule.cap_in_force(on)` resolves exactly one version (and, for a multiple, exactly one
  LPR publication) and returns the `RateCap` with its `CapProvenance`, which decision records
  and offers keep so a decision can be replayed under the cap it was made under.

Changes are append-only and never retroactive: a version or LPR takes effect on the business
date it is recorded or later (at most `MAX_DAYS_AHEAD` ahead), and nothing may take effect on a
date on which a version (or LPR) already in force took effect, since decisions may already have
been made under it.  A later version with the same future effective date as a scheduled one
supersedes it (both are kept).  Pure: no clock, no I/O; the store keeps the rows
(`puhui.store.caps_repo`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from puhui.calendar import RATE_SCALE
from puhui.errors import InvalidRateCap, NoRateCapInForce, RateCapExceeded
from puhui.loans.product import LoanProduct, RateCap

#: A fixed cap must lie in (0, 36%]: above 36% no Chinese court enforces the interest at all.
MAX_FIXED_CAP = Decimal("0.36")
#: A cap multiple lies in [1, 10] with at most two decimals (4x, 3.5x).
MIN_MULTIPLE, MAX_MULTIPLE = Decimal(1), Decimal(10)
#: The one-year LPR lies in (0, 20%], quoted to a basis point (0.0345 = 3.45%).
MAX_LPR = Decimal("0.20")
#: The first LPR published under the reformed mechanism; nothing earlier is a one-year LPR here.
FIRST_LPR_DATE = date(2019, 8, 20)
#: How far ahead a version or LPR may be scheduled.
MAX_DAYS_AHEAD = 366
#: Labels and notes are short text.
MAX_TEXT = 200


class CapKind(str, enum.Enum):
    FIXED = "fixed"                  # a fixed annual rate
    LPR_MULTIPLE = "lpr_multiple"    # a multiple of the one-year LPR in force


@dataclass(frozen=True, slots=True)
class CapVersion:
    """One version of the cap setting, in force from `effective_from` until superseded."""

    version: int                     # assigned by the store, rising; 0 for one not yet stored
    effective_from: date
    kind: CapKind
    rate: Decimal | None = None      # FIXED: the cap
    multiple: Decimal | None = None  # LPR_MULTIPLE: the cap is multiple x LPR
    label: str = ""
    note: str = ""
    recorded_at: datetime | None = None
    recorded_by: str = ""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", CapKind(self.kind))
        except ValueError:
            raise InvalidRateCap(f"a cap is 'fixed' or 'lpr_multiple', not {self.kind!r}") \
                from None
        _check_date(self.effective_from, "effective_from")
        if self.kind is CapKind.FIXED:
            if self.multiple is not None:
                raise InvalidRateCap("a fixed cap has a rate, not a multiple")
            object.__setattr__(self, "rate", _decimal(self.rate, "cap rate", Decimal(0),
                                                      MAX_FIXED_CAP, places=6))
        else:
            if self.rate is not None:
                raise InvalidRateCap("an LPR-multiple cap has a multiple, not a rate")
            object.__setattr__(self, "multiple", _decimal(
                self.multiple, "LPR multiple", MIN_MULTIPLE, MAX_MULTIPLE, places=2,
                low_open=False))
        for name in ("label", "note", "recorded_by"):
            _check_text(getattr(self, name), name)

    @property
    def description(self) -> str:
        if self.label:
            return self.label
        if self.kind is CapKind.FIXED:
            return f"{_percent(self.rate)} fixed rate cap"
        return f"{self.multiple}x one-year LPR rate cap"


@dataclass(frozen=True, slots=True)
class LprPublication:
    """A one-year LPR value as published, recorded by an operator."""

    id: int                          # assigned by the store, rising; 0 for one not yet stored
    rate: Decimal
    published_on: date
    effective_from: date
    recorded_at: datetime | None = None
    recorded_by: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", _decimal(self.rate, "LPR", Decimal(0), MAX_LPR,
                                                  places=4))
        _check_date(self.published_on, "published_on")
        _check_date(self.effective_from, "effective_from")
        if self.published_on < FIRST_LPR_DATE:
            raise InvalidRateCap(f"the one-year LPR is published from {FIRST_LPR_DATE} on; "
                                 f"{self.published_on} is earlier")
        if self.effective_from < self.published_on:
            raise InvalidRateCap(f"an LPR cannot take effect ({self.effective_from}) before it "
                                 f"is published ({self.published_on})")
        _check_text(self.recorded_by, "recorded_by")


@dataclass(frozen=True, slots=True)
class CapProvenance:
    """Which setting a cap came from: what a decision record and an offer keep to replay it."""

    version: int
    kind: CapKind
    effective_from: date
    rate: Decimal | None = None
    multiple: Decimal | None = None
    lpr_id: int | None = None
    lpr_rate: Decimal | None = None
    lpr_published_on: date | None = None
    lpr_effective_from: date | None = None

    def to_dict(self) -> dict[str, Any]:
        def text(value: Any) -> Any:
            return None if value is None else (
                value.isoformat() if isinstance(value, date) else str(value))
        return {"version": self.version, "kind": self.kind.value,
                "effective_from": self.effective_from.isoformat(), "rate": text(self.rate),
                "multiple": text(self.multiple), "lpr_id": self.lpr_id,
                "lpr_rate": text(self.lpr_rate),
                "lpr_published_on": text(self.lpr_published_on),
                "lpr_effective_from": text(self.lpr_effective_from)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CapProvenance":
        """Read back `to_dict`; `InvalidRateCap` for anything else."""
        try:
            def dec(key: str) -> Decimal | None:
                return None if d[key] is None else Decimal(str(d[key]))

            def day(key: str) -> date | None:
                return None if d[key] is None else date.fromisoformat(d[key])
            ids = [d["version"], d["lpr_id"]]
            if not isinstance(ids[0], int) or not (ids[1] is None or isinstance(ids[1], int)):
                raise TypeError("ids are integers")
            return cls(ids[0], CapKind(d["kind"]), date.fromisoformat(d["effective_from"]),
                       dec("rate"), dec("multiple"), ids[1], dec("lpr_rate"),
                       day("lpr_published_on"), day("lpr_effective_from"))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise InvalidRateCap(f"unreadable rate cap provenance: {exc}") from None


class CapSchedule:
    """Every cap version and LPR publication recorded, resolved by date."""

    def __init__(self, versions: Iterable[CapVersion] = (),
                 lprs: Iterable[LprPublication] = ()) -> None:
        self.versions = sorted(versions, key=lambda v: (v.effective_from, v.version))
        self.lprs = sorted(lprs, key=lambda p: (p.effective_from, p.id))

    def version_on(self, on: date) -> CapVersion | None:
        """The version in force on `on`: the latest effective date on or before it, the later
        recorded one of two with the same date."""
        found = [v for v in self.versions if v.effective_from <= on]
        return found[-1] if found else None

    def lpr_on(self, on: date) -> LprPublication | None:
        found = [p for p in self.lprs if p.effective_from <= on]
        return found[-1] if found else None

    def cap_in_force(self, on: date) -> RateCap:
        """The cap on `on` with its provenance; `NoRateCapInForce` if there is none (no version
        yet, or a multiple of an LPR not yet recorded): lending stops rather than guess."""
        _check_date(on, "on")
        version = self.version_on(on)
        if version is None:
            raise NoRateCapInForce(f"no rate cap setting is in force on {on}")
        if version.kind is CapKind.FIXED:
            assert version.rate is not None
            return RateCap(version.rate, version.description, CapProvenance(
                version.version, version.kind, version.effective_from, rate=version.rate))
        lpr = self.lpr_on(on)
        if lpr is None:
            raise NoRateCapInForce(f"the rate cap on {on} is {version.multiple}x the one-year "
                                   "LPR, and no LPR in force on that date is recorded")
        assert version.multiple is not None
        limit = version.multiple * lpr.rate
        label = (f"{version.description} (LPR {_percent(lpr.rate)} published "
                 f"{lpr.published_on.isoformat()})")
        return RateCap(limit, label, CapProvenance(
            version.version, version.kind, version.effective_from, multiple=version.multiple,
            lpr_id=lpr.id, lpr_rate=lpr.rate, lpr_published_on=lpr.published_on,
            lpr_effective_from=lpr.effective_from))

    # -- what may be added ------------------------------------------------------------------
    def check_new_version(self, version: CapVersion, today: date) -> None:
        """Refuse a version that would change the cap of a day already begun or past."""
        _not_retroactive(version.effective_from, today, self.version_on(today), "cap version")

    def check_new_lpr(self, lpr: LprPublication, today: date) -> None:
        if lpr.published_on > today:
            raise InvalidRateCap(f"an LPR published on {lpr.published_on} is not published yet "
                                 f"(today is {today})")
        _not_retroactive(lpr.effective_from, today, self.lpr_on(today), "LPR")


def cap_to_dict(cap: RateCap) -> dict[str, Any]:
    """A cap as plain JSON: limit, label and (None for a hand-written cap) provenance."""
    return {"annual_limit": str(cap.annual_limit), "label": cap.label,
            "provenance": None if cap.provenance is None else cap.provenance.to_dict()}


def cap_from_dict(d: Any) -> RateCap:
    """Read back `cap_to_dict` (records written before caps had provenance lack the key);
    `InvalidRateCap` for anything else."""
    if not isinstance(d, Mapping) or not isinstance(d.get("label"), str) \
            or not isinstance(d.get("annual_limit"), str):
        raise InvalidRateCap(f"a rate cap is {{annual_limit, label, provenance}}, not {d!r}")
    source = d.get("provenance")
    try:
        limit = Decimal(d["annual_limit"])
    except InvalidOperation:
        raise InvalidRateCap(f"rate cap limit {d['annual_limit']!r} is not a number") from None
    return RateCap(limit, d["label"], None if source is None else CapProvenance.from_dict(source))


def offer_refusal(product: LoanProduct, cap: RateCap, on: date) -> str | None:
    """Why `product` cannot be offered under `cap` on `on`, or None if it can.

    The most a product can cost is its nominal rate plus its fees annualised (APR by the IRR
    method), highest at the smallest principal, where fixed fees weigh most; both ends of the
    principal range are quoted for a loan starting `on`."""
    from puhui.loans.cost import quote

    try:
        product.check_cap(cap)
        for principal in sorted({product.min_principal, product.max_principal}):
            quote(product, principal, on, cap)
    except RateCapExceeded as exc:
        return f"product {product.code!r} is not offered: {exc}"
    return None


def clip_rate(cap: RateCap) -> Decimal:
    """The highest rate of whole millionths (the precision rates are priced in) within `cap`."""
    return (cap.annual_limit * RATE_SCALE).to_integral_value(ROUND_FLOOR) / RATE_SCALE


def _not_retroactive(effective_from: date, today: date, in_force: Any, what: str) -> None:
    if effective_from < today:
        raise InvalidRateCap(f"a {what} cannot take effect in the past ({effective_from}; "
                             f"today is {today}): record it from today on")
    if effective_from > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidRateCap(f"a {what} may be scheduled at most {MAX_DAYS_AHEAD} days ahead, "
                             f"not from {effective_from}")
    if in_force is not None and in_force.effective_from >= effective_from:
        raise InvalidRateCap(f"the {what} in force took effect on {in_force.effective_from} "
                             "and decisions may already have used it; a new one takes effect "
                             "from tomorrow at the earliest")


def _decimal(value: Any, what: str, low: Decimal, high: Decimal, *, places: int,
             low_open: bool = True) -> Decimal:
    """An exact decimal in (low, high] (or [low, high]) with at most `places` decimals."""
    if isinstance(value, (float, bool)) or not isinstance(value, (Decimal, int, str)):
        raise InvalidRateCap(f"{what} must be an exact decimal (a string such as \"0.24\"), "
                             f"not {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InvalidRateCap(f"{what} {value!r} is not a number") from None
    if not number.is_finite():
        raise InvalidRateCap(f"{what} must be finite, not {value!r}")
    if number != number.quantize(Decimal(1).scaleb(-places), ROUND_FLOOR):
        raise InvalidRateCap(f"{what} {value} has more than {places} decimal places")
    if number < low or (low_open and number == low) or number > high:
        raise InvalidRateCap(f"{what} {value} must be {'above' if low_open else 'at least'} "
                             f"{low} and at most {high} (rates are fractions: 0.24 = 24%)")
    return _plain(number)


def _plain(number: Decimal) -> Decimal:
    """`number` without trailing zeros and never in exponent form (10, not 1E+1)."""
    reduced = number.normalize()
    return reduced.quantize(Decimal(1)) if reduced.as_tuple().exponent > 0 else reduced  # type: ignore[operator]


def _check_date(value: Any, what: str) -> None:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidRateCap(f"{what} must be a date, not {value!r}")


def _check_text(value: Any, what: str) -> None:
    if not isinstance(value, str) or len(value) > MAX_TEXT or not value.isprintable():
        raise InvalidRateCap(f"{what} must be printable text of at most {MAX_TEXT} characters")


def _percent(rate: Decimal | None) -> str:
    return f"{_plain((rate or Decimal(0)) * 100):f}%"
