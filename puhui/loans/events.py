"""The events that change a loan.  A loan's state is the fold of its events.

Every event carries an idempotency key and a business date.  Its canonical content (a JSON-able
dict) is hashed, so a replayed event is recognised and ignored while a different event reusing a
key is refused (`IdempotencyConflict`).
"""

from __future__ import annotations

import enum
import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from puhui.calendar import parse_rate
from puhui.errors import InvalidAmount, InvalidEvent
from puhui.loans.product import RepaymentMethod
from puhui.loans.schedule import RepaymentSchedule
from puhui.money import MAX_AMOUNT

#: True while events are rebuilt from stored history (`event_from_content(..., stored=True)`):
#: bounds added after an event was stored (`MAX_AMOUNT`) do not apply to it.
_FROM_STORED_HISTORY: ContextVar[bool] = ContextVar("puhui_event_from_stored", default=False)

#: The servicing rules new events are accepted and booked under (docs/loan-rules.md, "Rules apply
#: to new events").  1: a receipt above what was due left the excess as credit and the loan open,
#: even one covering everything owed, and a partial prepayment was re-amortised whatever the
#: credit.  2: a receipt that with the credit covers the payoff settles the loan that day, credit
#: is used first, and more than the payoff is refused.  Stored content without a version is 1.
RULES = 2
#: Every version some stored event may name.
KNOWN_RULES = (1, 2)
#: Fields an event carries to the loan that are not part of what happened: left out of its
#: content (so of its hash, its stored form and its replay).
_CARRIED = frozenset({"contracted"})


class PrepaymentMode(str, enum.Enum):
    FULL = "full"                            # settle everything, close the loan
    REDUCE_INSTALMENT = "reduce_instalment"  # keep the term, lower the instalments
    SHORTEN_TERM = "shorten_term"            # keep the instalment, end sooner


@dataclass(frozen=True, slots=True)
class LoanEvent:
    key: str
    on: date
    #: the servicing rules the event is accepted and booked under: always `RULES` for a new
    #: event; stored history keeps the version it was accepted under (`event_from_content`)
    rules: int = field(default=RULES, kw_only=True)
    kind: ClassVar[str] = "event"

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key.strip() or len(self.key) > 200:
            raise InvalidEvent("an event needs an idempotency key of 1-200 characters")
        if _FROM_STORED_HISTORY.get():
            if isinstance(self.rules, bool) or self.rules not in KNOWN_RULES:
                raise InvalidEvent(f"unknown servicing rules version {self.rules!r}")
        elif isinstance(self.rules, bool) or self.rules != RULES:
            raise InvalidEvent(f"a new event is accepted under the current servicing rules "
                               f"({RULES}), not {self.rules!r}")
        if not isinstance(self.on, date):
            raise InvalidEvent(f"event date must be a date, got {self.on!r}")
        for f in fields(self):
            if f.name in ("amount", "principal", "limit"):
                value = getattr(self, f.name)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise InvalidAmount(f"{f.name} must be an int of minor units, got {value!r}")
                if value <= 0:
                    raise InvalidAmount(f"{f.name} must be positive, got {value}")
                if value > MAX_AMOUNT and not _FROM_STORED_HISTORY.get():
                    raise InvalidAmount(f"{f.name} of {value} is above the largest amount "
                                        f"accepted ({MAX_AMOUNT})")

    def content(self) -> dict[str, Any]:
        """Canonical, JSON-able content: the event's identity for idempotency and storage."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            if f.name in _CARRIED:
                continue
            value = getattr(self, f.name)
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            out[f.name] = value
        return out

    def content_hash(self) -> str:
        """The event's identity for idempotency: what happened, not the rules version it was
        booked under, so a command sent again after the rules changed is still recognised as
        the event already stored (and posts nothing)."""
        body = json.dumps({k: v for k, v in self.content().items() if k != "rules"},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Disbursement(LoanEvent):
    """Pay out `principal` on `on`.

    `contracted` is the schedule the signed offer disclosed, when the loan is paid out on the
    offer's start date: the loan still builds its schedule from its own terms (as every replay
    does) and refuses to open if that differs, so a loan never runs on other terms than those
    signed.  It is carried, not stored: the event's content, hash and replay leave it out."""

    principal: int = 0
    contracted: RepaymentSchedule | None = field(default=None, compare=False, repr=False,
                                                 kw_only=True)
    kind: ClassVar[str] = "disbursement"


@dataclass(frozen=True, slots=True)
class LineOpening(LoanEvent):
    """Open a revolving credit line (随借随还) with a limit, for the product's term in days."""

    limit: int = 0
    kind: ClassVar[str] = "line_opening"


@dataclass(frozen=True, slots=True)
class Draw(LoanEvent):
    """Draw down part of a revolving line."""

    amount: int = 0
    kind: ClassVar[str] = "draw"


@dataclass(frozen=True, slots=True)
class EndOfDay(LoanEvent):
    """Close of business day `on`: accrue interest and penalty, charge fees, apply credit."""

    kind: ClassVar[str] = "end_of_day"


@dataclass(frozen=True, slots=True)
class Repayment(LoanEvent):
    amount: int = 0
    kind: ClassVar[str] = "repayment"


@dataclass(frozen=True, slots=True)
class Prepayment(LoanEvent):
    amount: int = 0
    mode: PrepaymentMode = PrepaymentMode.FULL
    kind: ClassVar[str] = "prepayment"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", _enum(PrepaymentMode, self.mode, "mode"))
        LoanEvent.__post_init__(self)


@dataclass(frozen=True, slots=True)
class PaymentReversal(LoanEvent):
    """Undo a repayment, prepayment, recovery or refund (a bounced debit, a misapplied receipt)."""

    target: str = ""
    reason: str = ""
    kind: ClassVar[str] = "payment_reversal"


@dataclass(frozen=True, slots=True)
class Reschedule(LoanEvent):
    """Restructure the remaining debt over new terms from `on` (重组/展期)."""

    periods: int = 0
    annual_rate: Decimal | None = None
    method: RepaymentMethod | None = None
    capitalise_arrears: bool = True
    kind: ClassVar[str] = "reschedule"

    def __post_init__(self) -> None:
        if self.method is not None:
            object.__setattr__(self, "method", _enum(RepaymentMethod, self.method, "method"))
        if self.annual_rate is not None:  # exact and normalised: "0.10" and "0.1" are one event
            object.__setattr__(self, "annual_rate", parse_rate(self.annual_rate, "annual_rate"))
        if isinstance(self.periods, bool) or not isinstance(self.periods, int) or self.periods < 1:
            raise InvalidEvent("a reschedule needs periods >= 1")
        LoanEvent.__post_init__(self)


@dataclass(frozen=True, slots=True)
class WriteOff(LoanEvent):
    reason: str = ""
    kind: ClassVar[str] = "write_off"


@dataclass(frozen=True, slots=True)
class Recovery(LoanEvent):
    """Cash collected on a loan after it was written off."""

    amount: int = 0
    kind: ClassVar[str] = "recovery"


@dataclass(frozen=True, slots=True)
class CreditRefund(LoanEvent):
    """Pay a borrower's credit balance (an overpayment) back out."""

    amount: int = 0
    kind: ClassVar[str] = "credit_refund"


class WaivedCharge(str, enum.Enum):
    """What a waiver forgives: charges the lender earned as income, never principal."""

    PENALTY = "penalty"   # penalty interest (罚息) charged so far
    FEE = "fee"           # instalment fees fallen due


@dataclass(frozen=True, slots=True)
class Waiver(LoanEvent):
    """Forgive `amount` of the penalty or fees receivable on `on` (减免): a reversing posting
    of the income they were charged as (Dr income / Cr receivable), never an edit of the
    charge.  No more than is receivable that day; what accrues later is owed as usual."""

    charge: WaivedCharge = WaivedCharge.PENALTY
    amount: int = 0
    reason: str = ""
    kind: ClassVar[str] = "waiver"

    def __post_init__(self) -> None:
        object.__setattr__(self, "charge", _enum(WaivedCharge, self.charge, "charge"))
        LoanEvent.__post_init__(self)


PAYMENT_KINDS = (Repayment, Prepayment, Recovery, CreditRefund)

EVENT_TYPES: dict[str, type[LoanEvent]] = {
    cls.kind: cls for cls in (Disbursement, LineOpening, Draw, EndOfDay, Repayment, Prepayment, PaymentReversal,
                              Reschedule, WriteOff, Recovery, CreditRefund, Waiver)
}


def _enum(kind: type[enum.Enum], value: Any, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise InvalidEvent(f"unknown {name} {value!r}; choose from {[k.value for k in kind]}") from None


def event_from_content(content: dict[str, Any], stored: bool = False) -> LoanEvent:
    """Rebuild an event from its stored content (the inverse of `LoanEvent.content`).

    `stored`: the content is the book's own history, accepted when it was written.  Checks of
    form (kinds, fields, dates, positive amounts) still apply; the `MAX_AMOUNT` bound, added
    later, does not: stored history replays under the rules it was accepted under.  Its `rules`
    version is kept, and content stored before events named one is version 1.  Content that is
    not stored history is a new event: it is accepted under the current rules only."""
    data = dict(content)
    if stored:
        data.setdefault("rules", 1)
    cls = EVENT_TYPES.get(data.pop("kind", None))
    if cls is None:
        raise InvalidEvent(f"unknown event kind {content.get('kind')!r}")
    known = {f.name for f in fields(cls)} - _CARRIED
    unknown = set(data) - known
    if unknown:
        raise InvalidEvent(f"unexpected fields for {cls.kind}: {sorted(unknown)}")
    if "on" in data and isinstance(data["on"], str):
        try:
            data["on"] = date.fromisoformat(data["on"])
        except ValueError:
            raise InvalidEvent(f"bad date {data['on']!r}") from None
    token = _FROM_STORED_HISTORY.set(stored)
    try:
        return cls(**data)
    except TypeError as exc:
        raise InvalidEvent(str(exc)) from None
    finally:
        _FROM_STORED_HISTORY.reset(token)
