"""Promises to pay (承诺还款) and whether they were kept, from the loan's actual receipts.

A promise is an amount by a date, made on a date.  It is **kept** once the receipts booked on
the loan from the day it was made through its due date add up to the amount (a payment on the
due date itself counts), **broken** once its due date has passed without that, and **pending**
otherwise.  One fen short is broken: a partial payment is welcome but is not the promise.
Receipts are the loan's repayments and prepayments not reversed (a bounced debit does not
keep a promise).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterable

from puhui.collections.errors import InvalidCollectionsInput

def __getattr__(name: str) -> Any:
    """`MAX_PROMISE_DAYS`, the furthest ahead a promise may fall due (a promise months out is
    a restructuring): the shipped collections policy's (`puhui.collections.policy`)."""
    if name == "MAX_PROMISE_DAYS":
        return _shipped_max_days()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _shipped_max_days() -> int:
    from puhui.collections.policy import shipped_collections_policy

    return shipped_collections_policy().max_promise_days


class PromiseStatus(str, enum.Enum):
    PENDING = "pending"
    KEPT = "kept"
    BROKEN = "broken"


@dataclass(frozen=True, slots=True)
class PromiseCheck:
    status: PromiseStatus
    paid: int   # receipts counted toward the promise (fen)


def check_new_promise(amount: object, due_on: object, today: date,
                      max_days: int | None = None) -> None:
    """Refuse a promise that is not a positive amount of fen due today .. `max_days` ahead
    (default: the shipped policy's `MAX_PROMISE_DAYS`)."""
    if max_days is None:
        max_days = _shipped_max_days()
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidCollectionsInput(f"a promise is a positive whole number of fen, "
                                      f"not {amount!r}")
    if not isinstance(due_on, date):
        raise InvalidCollectionsInput(f"a promise needs a due date, not {due_on!r}")
    if not today <= due_on <= today + timedelta(days=max_days):
        raise InvalidCollectionsInput(f"a promise falls due from today ({today}) to "
                                      f"{max_days} days ahead, not on {due_on}")


def evaluate(amount: int, made_on: date, due_on: date, receipts: Iterable[tuple[date, int]],
             today: date) -> PromiseCheck:
    """The promise's status on `today` (the business date checked) given the loan's receipts
    as (date, fen)."""
    paid = sum(fen for on, fen in receipts if made_on <= on <= due_on)
    if paid >= amount:
        return PromiseCheck(PromiseStatus.KEPT, paid)
    if today > due_on:
        return PromiseCheck(PromiseStatus.BROKEN, paid)
    return PromiseCheck(PromiseStatus.PENDING, paid)
