"""A credit line (授信额度): limit, drawn principal, price, expiry and lifecycle, as pure rules.

Why pure: the services, the line policy, early warning and collections all change lines, and the
same rule must refuse the same change everywhere.  Every function here takes a line and returns
the line after the change together with the `LineEvent` that records it; nothing is stored.
A change that changes nothing returns no event, so a policy re-run leaves no trace.

Availability: `available = limit - drawn` while the line is active, 0 otherwise (a frozen,
expired or closed line cannot be drawn).  A limit cut below what is drawn leaves the loans
running and the availability at 0 until repayments bring the drawn principal under the limit.

Each event carries `commitment`, the change in the undrawn commitment (the line's `available`),
which is what the memorandum accounts post: their balance per line is always its `available`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Mapping

from puhui.calendar import parse_rate
from puhui.errors import (
    DrawBelowMinimum,
    DrawExceedsAvailable,
    IllegalLineTransition,
    InvalidLineChange,
    LineNotDrawable,
    PuhuiError,
)
from puhui.loans.product import Component, LoanProduct, RateCap, RepaymentMethod
from puhui.loans.revolving import RevolvingLine

#: A reason is shown to the borrower and the auditor: required, and bounded.
MAX_REASON = 500
#: Days an instalment product's line may be drawn when the grant names no expiry.
DEFAULT_LINE_DAYS = 365
#: The longest a line may run.
MAX_LINE_DAYS = 3 * 366


class LineStatus(str, enum.Enum):
    ACTIVE = "active"
    FROZEN = "frozen"
    EXPIRED = "expired"
    CLOSED = "closed"


_L = LineStatus

#: The lifecycle: the only moves between statuses.
TRANSITIONS: Mapping[LineStatus, frozenset[LineStatus]] = MappingProxyType({
    _L.ACTIVE: frozenset({_L.FROZEN, _L.EXPIRED, _L.CLOSED}),
    _L.FROZEN: frozenset({_L.ACTIVE, _L.EXPIRED, _L.CLOSED}),
    _L.EXPIRED: frozenset({_L.CLOSED}),
    _L.CLOSED: frozenset(),
})


class LineEventKind(str, enum.Enum):
    GRANTED = "granted"
    DRAW = "draw"
    PRINCIPAL_RESTORED = "principal_restored"
    LIMIT_CHANGED = "limit_changed"
    PRICE_CHANGED = "price_changed"
    FROZEN = "frozen"
    UNFROZEN = "unfrozen"
    EXPIRED = "expired"
    CLOSED = "closed"


#: The status change each status event makes.
_STATUS_EVENT = {_L.FROZEN: LineEventKind.FROZEN, _L.ACTIVE: LineEventKind.UNFROZEN,
                 _L.EXPIRED: LineEventKind.EXPIRED, _L.CLOSED: LineEventKind.CLOSED}


@dataclass(frozen=True, slots=True)
class CreditLine:
    """A granted line: `limit` and `drawn` (principal outstanding under it) in fen."""

    line_id: str
    applicant_id: str
    product_code: str
    currency: str
    limit: int
    drawn: int
    annual_rate: Decimal
    opened_on: date
    expires_on: date
    status: LineStatus
    changed_on: date | None = None
    version: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", LineStatus(self.status))
        object.__setattr__(self, "annual_rate", parse_rate(self.annual_rate, "annual_rate"))
        for name in ("limit", "drawn"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidLineChange(f"{name} must be a non-negative int of fen, got {value!r}")

    @property
    def available(self) -> int:
        """What may be drawn now: the undrawn limit of an active line, else 0."""
        if self.status is not LineStatus.ACTIVE:
            return 0
        return max(0, self.limit - self.drawn)

    def to_dict(self) -> dict[str, Any]:
        return {"line_id": self.line_id, "applicant_id": self.applicant_id,
                "product_code": self.product_code, "currency": self.currency,
                "limit": self.limit, "drawn": self.drawn, "available": self.available,
                "annual_rate": str(self.annual_rate), "opened_on": self.opened_on.isoformat(),
                "expires_on": self.expires_on.isoformat(), "status": self.status.value,
                "changed_on": self.changed_on.isoformat() if self.changed_on else None,
                "version": self.version}


@dataclass(frozen=True, slots=True)
class LineEvent:
    """One change of a line, with the line's figures after it.

    `request_key` is the caller's idempotency key; `event_key` (unique per line) is derived
    from it and the kind, so one request that changes the limit and the price writes two
    events and a replay of it finds both."""

    line_id: str
    seq: int
    kind: LineEventKind
    request_key: str
    on: date
    reason: str
    actor: str
    amount: int           # a draw's or restoration's principal, a limit's change; else 0
    commitment: int       # change in the undrawn commitment (available after - before)
    limit: int
    drawn: int
    annual_rate: Decimal
    status: LineStatus
    loan_id: str | None = None
    decision_id: str | None = None

    @property
    def event_key(self) -> str:
        return f"{self.request_key}/{self.kind.value}"

    def to_dict(self) -> dict[str, Any]:
        return {"line_id": self.line_id, "seq": self.seq, "kind": self.kind.value,
                "key": self.request_key, "on": self.on.isoformat(), "reason": self.reason,
                "actor": self.actor, "amount": self.amount, "commitment": self.commitment,
                "limit": self.limit, "drawn": self.drawn, "annual_rate": str(self.annual_rate),
                "status": self.status.value, "loan_id": self.loan_id,
                "decision_id": self.decision_id}


# -- checks ---------------------------------------------------------------------------------------
def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidLineChange(f"a line change needs a reason of 1-{MAX_REASON} characters")
    return reason.strip()


def _key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > 160:
        raise InvalidLineChange("an idempotency key of 1-160 characters is required")
    return key


def check_limit(limit: object, product: LoanProduct) -> int:
    """A limit in fen between 0 and the product's largest principal."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidLineChange(f"a limit must be an int of fen, got {limit!r}")
    if not 0 <= limit <= product.max_principal:
        raise InvalidLineChange(f"limit {limit} is outside 0..{product.max_principal} "
                                f"(product {product.code!r})")
    return limit


def check_rate(annual_rate: object, cap: RateCap | None) -> Decimal:
    """A positive annual rate within the cap in force (the nominal rate; the draw's all-in cost
    is checked again against the cap on the day of each draw)."""
    try:
        rate = parse_rate(annual_rate, "annual_rate")  # type: ignore[arg-type]
    except PuhuiError as exc:
        raise InvalidLineChange(str(exc)) from None
    if rate <= 0:
        raise InvalidLineChange("a line's annual rate must be positive")
    if cap is not None:
        cap.check(rate, "line rate")  # RateCapExceeded
    return rate


def check_transition(current: LineStatus, target: LineStatus) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        raise IllegalLineTransition(f"a {current.value} line cannot become {target.value} "
                                    f"(allowed: {allowed})")


def line_expiry(product: LoanProduct, opened_on: date, expires_on: date | None) -> date:
    """The last day after which the line cannot be drawn: as asked, else the product's term in
    days for a revolving product and `DEFAULT_LINE_DAYS` otherwise."""
    if expires_on is None:
        days = product.term_days if product.method is RepaymentMethod.REVOLVING else None
        return opened_on + timedelta(days=days or DEFAULT_LINE_DAYS)
    if not isinstance(expires_on, date):
        raise InvalidLineChange(f"expires_on must be a date, got {expires_on!r}")
    if not opened_on < expires_on <= opened_on + timedelta(days=MAX_LINE_DAYS):
        raise InvalidLineChange(f"a line must expire after it opens ({opened_on}) and within "
                                f"{MAX_LINE_DAYS} days, not on {expires_on}")
    return expires_on


# -- changes --------------------------------------------------------------------------------------
def _event(before: CreditLine | None, after: CreditLine, kind: LineEventKind, key: str, on: date,
           reason: str, actor: str, amount: int = 0, loan_id: str | None = None,
           decision_id: str | None = None) -> LineEvent:
    return LineEvent(after.line_id, after.version, kind, key, on, reason, actor, amount,
                     after.available - (before.available if before else 0), after.limit,
                     after.drawn, after.annual_rate, after.status, loan_id, decision_id)


def grant(line_id: str, applicant_id: str, product: LoanProduct, limit: int,
          annual_rate: Decimal, opened_on: date, expires_on: date | None, *, key: str,
          reason: str, actor: str, cap: RateCap | None = None,
          decision_id: str | None = None) -> tuple[CreditLine, LineEvent]:
    """A new active line of `product` (limit within the product's principal range, rate within
    `cap`), and its `granted` event."""
    check_limit(limit, product)
    if limit < product.min_principal:
        raise InvalidLineChange(f"a line's limit must be at least the product's minimum "
                                f"principal {product.min_principal}, got {limit}")
    rate = check_rate(annual_rate, cap)
    line = CreditLine(line_id, applicant_id, product.code, product.currency, limit, 0, rate,
                      opened_on, line_expiry(product, opened_on, expires_on), LineStatus.ACTIVE,
                      opened_on, 1)
    return line, _event(None, line, LineEventKind.GRANTED, _key(key), opened_on, _reason(reason),
                        actor, limit, decision_id=decision_id)


def check_draw(line: CreditLine, amount: object, on: date, minimum: int) -> int:
    """`amount` if `line` may be drawn by it on `on`; otherwise the typed refusal."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise DrawBelowMinimum(f"a draw must be a positive int of fen, got {amount!r}")
    if line.status is not LineStatus.ACTIVE:
        raise LineNotDrawable(f"line {line.line_id} is {line.status.value}; it cannot be drawn")
    if on >= line.expires_on:
        raise LineNotDrawable(f"line {line.line_id} expired on {line.expires_on}; "
                              "it cannot be drawn")
    if amount < minimum:
        raise DrawBelowMinimum(f"a draw of {amount} is below the product's minimum {minimum}")
    if amount > line.available:
        raise DrawExceedsAvailable(f"a draw of {amount} is above the line's available "
                                   f"{line.available} (limit {line.limit}, drawn {line.drawn})")
    return amount


def draw(line: CreditLine, amount: int, on: date, *, key: str, loan_id: str, minimum: int,
         actor: str, reason: str = "draw") -> tuple[CreditLine, LineEvent]:
    """`amount` drawn as loan `loan_id`."""
    check_draw(line, amount, on, minimum)
    after = replace(line, drawn=line.drawn + amount, version=line.version + 1)
    return after, _event(line, after, LineEventKind.DRAW, _key(key), on, _reason(reason), actor,
                         amount, loan_id=loan_id)


def restore(line: CreditLine, drawn_now: int, on: date, *, key: str,
            actor: str) -> tuple[CreditLine, LineEvent | None]:
    """Principal repaid under the line: `drawn` falls to `drawn_now` (what the loans under it
    still owe) and the availability comes back; no event when nothing was repaid."""
    if isinstance(drawn_now, bool) or not isinstance(drawn_now, int) or drawn_now < 0:
        raise InvalidLineChange(f"drawn principal must be a non-negative int, got {drawn_now!r}")
    if drawn_now > line.drawn:
        raise InvalidLineChange(f"line {line.line_id}: its loans owe {drawn_now}, more than the "
                                f"{line.drawn} drawn under it")
    if drawn_now == line.drawn:
        return line, None
    after = replace(line, drawn=drawn_now, version=line.version + 1)
    return after, _event(line, after, LineEventKind.PRINCIPAL_RESTORED, _key(key), on,
                         "principal repaid", actor, line.drawn - drawn_now)


def expire_if_due(line: CreditLine, on: date, *, actor: str) -> tuple[CreditLine, LineEvent | None]:
    """An active or frozen line on or after its expiry becomes expired (once: its key is fixed)."""
    if on < line.expires_on or line.status not in (LineStatus.ACTIVE, LineStatus.FROZEN):
        return line, None
    after = replace(line, status=LineStatus.EXPIRED, changed_on=on, version=line.version + 1)
    return after, _event(line, after, LineEventKind.EXPIRED, f"expire:{line.line_id}", on,
                         f"the line expired on {line.expires_on}", actor)


def change(line: CreditLine, on: date, *, key: str, reason: str, actor: str,
           product: LoanProduct, cap: RateCap | None, limit: int | None = None,
           annual_rate: Decimal | None = None, freeze: bool | None = None,
           close: bool = False, decision_id: str | None = None
           ) -> tuple[CreditLine, list[LineEvent]]:
    """Apply a staff or policy change: a new limit, a new price, freeze (True) or unfreeze
    (False), or close; one event per thing that actually changes, in that order.

    Everything is checked before anything changes, so a refused request leaves the line as it
    was.  An expired or closed line takes no limit or price change and cannot be unfrozen."""
    key, reason = _key(key), _reason(reason)
    if limit is None and annual_rate is None and freeze is None and not close:
        raise InvalidLineChange("a change must name a limit, an annual rate, freeze or close")
    if freeze is not None and not isinstance(freeze, bool):
        raise InvalidLineChange(f"freeze must be true or false, got {freeze!r}")
    if limit is not None:
        limit = check_limit(limit, product)
    if annual_rate is not None:
        annual_rate = check_rate(annual_rate, cap)
    ended = line.status in (LineStatus.EXPIRED, LineStatus.CLOSED)
    if ended and (limit is not None and limit != line.limit
                  or annual_rate is not None and annual_rate != line.annual_rate):
        raise IllegalLineTransition(f"line {line.line_id} is {line.status.value}; its limit and "
                                    "price can no longer change")
    target = None
    if close:
        if freeze is not None:
            raise InvalidLineChange("close a line or freeze it, not both")
        target = LineStatus.CLOSED
    elif freeze is True:
        target = LineStatus.FROZEN
    elif freeze is False:
        target = LineStatus.ACTIVE
    if target is not None and target is not line.status:
        check_transition(line.status, target)
    events: list[LineEvent] = []
    current = line

    def step(kind: LineEventKind, amount: int = 0, **changes: Any) -> None:
        nonlocal current
        after = replace(current, changed_on=on, version=current.version + 1, **changes)
        events.append(_event(current, after, kind, key, on, reason, actor, amount,
                             decision_id=decision_id))
        current = after

    if limit is not None and limit != current.limit:
        step(LineEventKind.LIMIT_CHANGED, limit - current.limit, limit=limit)
    if annual_rate is not None and annual_rate != current.annual_rate:
        step(LineEventKind.PRICE_CHANGED, annual_rate=annual_rate)
    if target is not None and target is not current.status:
        step(_STATUS_EVENT[target], status=target)
    return current, events


# -- loans under a line ---------------------------------------------------------------------------
def disclosure_product(product: LoanProduct) -> LoanProduct:
    """The product whose schedule discloses a draw's cost.

    An instalment product is its own.  A revolving product (随借随还) has no fixed schedule: its
    cost is disclosed, and checked against the cap, on the representative draw of the whole
    amount on the first day repaid with its interest on the last day, a bullet loan of the same
    rate, day count, term and fees (daily interest summed over the same days)."""
    if product.method is not RepaymentMethod.REVOLVING:
        return product
    return product.with_terms(method=RepaymentMethod.BULLET)


def principal_unrepaid(account: Any) -> int:
    """The principal a loan under a line has not repaid: what it still uses of the line.

    A write-off does not give availability back (only a repayment does), so written-off
    principal still counts."""
    if isinstance(account, RevolvingLine):
        return account.drawn
    return sum(i.principal - i.paid[Component.PRINCIPAL] for i in account.instalments)
