"""A serviced account's state as data: the snapshot a loan is loaded from, and its due position.

Why: rebuilding a loan by replaying every event makes loading cost grow with the loan's age (one
more event a day).  A snapshot is the account's state after some event or close, as JSON, so a
load reads it and replays only what came later.  It is derived data: `to_state(from_state(s))`
is `s`, and the store can rebuild every snapshot from the events and prove they agree.

What a snapshot leaves out: the account's event history (`history`, `applied`), which only a
payment reversal needs (it re-runs the history without the reversed receipt); the book loads the
full history for that.  Idempotency of new events is the store's (a key is unique per loan).

`position` is the narrow row the daily close reads as columns: what a close of day D may charge
without the scalar engine.  `next_break` is the first day whose close is *not* a plain
continuation of today's accrual: an instalment falling due (fees, the next period, arrears), a
revolving line's maturity, or a credit balance to apply.  Before it, closing days one by one or
several at once posts the same interest and penalty (interest is accrued cumulatively by period,
penalty per day on an overdue principal that cannot change without an event or a due date), so
the close may charge those days from columns and leave the snapshot as it is.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any, Union

from puhui.calendar import rate_micros
from puhui.errors import InvalidEvent
from puhui.loans.delinquency import DEFAULT_POLICY
from puhui.loans.product import Component, LoanProduct
from puhui.loans.revolving import RevolvingLine
from puhui.loans.servicing import Loan
from puhui.loans.state import InstalmentState, LoanStatus
from puhui.money import MAX_AMOUNT

Account = Union[Loan, RevolvingLine]
#: Snapshot layout version: a snapshot of another version is rebuilt from events, never guessed.
FORMAT = 1
#: The day after which nothing breaks a plain accrual (a loan past its last due date).
NO_BREAK = date(9999, 12, 31)
ONE_DAY = timedelta(days=1)
#: Bounds a plain loan's due position stays within (the daily close's test, in
#: `puhui.batch.close` and in the store), so that every product the close forms (interest x
#: days, principal x rate in micro-units) stays far inside int64; a loan outside them (stored
#: history from before amounts were bounded) is closed by the engine, in Python's integers.
MAX_PLAIN_AMOUNT = MAX_AMOUNT
MAX_PLAIN_RATE_MICROS = 10_000_000   # 1000% a year
MAX_PLAIN_SPAN_DAYS = 100_000
_COMPONENTS = (Component.PRINCIPAL, Component.INTEREST, Component.FEE)

_LOAN_INTS = ("principal", "penalty_charged", "penalty_written_off", "penalty_capitalised",
              "credit", "written_off_amount", "recovered")
_LOAN_DATES = ("disbursed_on", "accrued_until", "penalty_until")
_LINE_INTS = ("limit", "drawn", "interest_charged", "interest_paid", "interest_written_off",
              "penalty_charged", "penalty_written_off", "principal_written_off", "credit",
              "written_off_amount", "recovered")
_LINE_DATES = ("opened_on", "accrued_until")


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _undate(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def to_state(account: Account) -> dict[str, Any]:
    """The account's state as JSON-native data (no history): what a snapshot stores."""
    common = {"format": FORMAT, "loan_id": account.loan_id,
              "contract_product": account.contract_product.to_dict(),
              "product": account.product.to_dict(), "status": account.status.value,
              "last_date": _day(account.last_date), "reversed": sorted(account.reversed),
              "penalty_paid": account.penalty_paid[0]}
    if isinstance(account, RevolvingLine):
        common["kind"] = "line"
        common.update({k: getattr(account, k) for k in _LINE_INTS})
        common.update({k: _day(getattr(account, k)) for k in _LINE_DATES})
        return common
    common["kind"] = "term"
    common.update({k: getattr(account, k) for k in _LOAN_INTS})
    common.update({k: _day(getattr(account, k)) for k in _LOAN_DATES})
    common["level"] = account.level
    common["instalments"] = [
        [i.number, i.start.isoformat(), i.due.isoformat(), i.principal, i.interest, i.fee,
         i.interest_accrued, i.fee_charged, [i.paid[c] for c in _COMPONENTS],
         [i.written_off[c] for c in _COMPONENTS], [i.capitalised[c] for c in _COMPONENTS]]
        for i in account.instalments]
    return common


def from_state(state: dict[str, Any]) -> Account:
    """The account a snapshot describes (`to_state`'s inverse); `InvalidEvent` for a snapshot of
    another format, which the caller rebuilds from events."""
    if state.get("format") != FORMAT:
        raise InvalidEvent(f"snapshot format {state.get('format')!r} is not {FORMAT}")
    contract = _product(state["contract_product"])
    account: Account
    if state["kind"] == "line":
        account = RevolvingLine(state["loan_id"], contract, DEFAULT_POLICY)
        for k in _LINE_INTS:
            setattr(account, k, state[k])
        for k in _LINE_DATES:
            setattr(account, k, _undate(state[k]))
    else:
        account = Loan(state["loan_id"], contract, DEFAULT_POLICY)
        for k in _LOAN_INTS:
            setattr(account, k, state[k])
        for k in _LOAN_DATES:
            setattr(account, k, _undate(state[k]))
        account.level = state["level"]
        out = []
        for (number, start, due, principal, interest, fee, accrued, fee_charged, paid, off,
             capitalised) in state["instalments"]:
            inst = InstalmentState(number, date.fromisoformat(start), date.fromisoformat(due),
                                   principal, interest, fee, accrued, fee_charged)
            inst.paid = dict(zip(_COMPONENTS, paid))
            inst.written_off = dict(zip(_COMPONENTS, off))
            inst.capitalised = dict(zip(_COMPONENTS, capitalised))
            out.append(inst)
        account.instalments = out
    product = state["product"]
    account.product = contract if product == state["contract_product"] else _product(product)
    account.status = LoanStatus(state["status"])
    account.last_date = _undate(state["last_date"])
    account.reversed = set(state["reversed"])
    account.penalty_paid = [state["penalty_paid"]]
    return account


_PRODUCTS: dict[str, LoanProduct] = {}


def _product(terms: dict[str, Any]) -> LoanProduct:
    """The product of stored terms, parsed once per distinct terms (a book has few products
    and a close loads thousands of loans of each; a product is immutable)."""
    key = json.dumps(terms, sort_keys=True, separators=(",", ":"))
    product = _PRODUCTS.get(key)
    if product is None:
        if len(_PRODUCTS) > 10_000:  # rescheduled terms are many: never let it grow unbounded
            _PRODUCTS.clear()
        product = _PRODUCTS[key] = LoanProduct.from_dict(terms)
    return product


def _charged_to(account: Account) -> date | None:
    """The last day whose interest (and penalty) the account has recognised."""
    return None if account.accrued_until is None else account.accrued_until - ONE_DAY


def next_break(account: Account) -> date:
    """The first day whose close needs the scalar engine (see the module docstring)."""
    charged = _charged_to(account)
    if account.status is not LoanStatus.ACTIVE or charged is None:
        return date.min
    if account.credit > 0:
        return charged + ONE_DAY
    if isinstance(account, RevolvingLine):
        edges = [account.expires_on - ONE_DAY, account.expires_on, account.expires_on + ONE_DAY]
        return next((d for d in edges if d > charged), NO_BREAK)
    if account.penalty_until != account.accrued_until:
        return charged + ONE_DAY
    return min((i.due for i in account.instalments if i.due > charged), default=NO_BREAK)


def position(account: Account) -> dict[str, Any]:
    """The account's due position: the columns the daily close charges plain days from.

    - `charged_to`: the last day recognised; a close of D charges the days after it up to D.
    - term loans: the period running after `charged_to` (`cur_start`, `cur_due`,
      `cur_interest`: the instalment whose due date is `next_break`), the principal overdue
      for penalty (`overdue_principal`: unpaid principal due on or before `charged_to`), and
      the oldest due date still in arrears (`arrears_since`) for aging.
    - lines: `balance` (principal outstanding, bearing daily interest before maturity and
      penalty after it) and `expires_on`.
    """
    product = account.product
    charged = _charged_to(account)
    out: dict[str, Any] = {
        "status": account.status.value, "kind": "line" if isinstance(account, RevolvingLine)
        else "term", "product": product.code, "currency": product.currency,
        "rounding": product.rounding.value, "basis": product.day_count.basis,
        "rate_micros": rate_micros(product.annual_rate),
        "penalty_rate_micros": rate_micros(product.penalty_rate), "charged_to": charged,
        "last_date": account.last_date, "next_break": next_break(account),
        "outstanding": account.principal_outstanding, "credit": account.credit,
        "cur_start": None, "cur_due": None, "cur_interest": 0, "overdue_principal": 0,
        "arrears_since": None, "balance": 0, "expires_on": None, "opened_on": None}
    if isinstance(account, RevolvingLine):
        out["opened_on"] = account.opened_on
        if account.opened_on is not None:
            out["balance"] = account.principal_outstanding
            out["expires_on"] = account.expires_on
            if account.owed() > 0:
                out["arrears_since"] = account.expires_on
        return out
    out["opened_on"] = account.disbursed_on
    if charged is not None:
        cur = next((i for i in account.instalments if i.due == out["next_break"]), None)
        if cur is not None and out["next_break"] != NO_BREAK:
            out.update(cur_start=cur.start, cur_due=cur.due, cur_interest=cur.interest)
        out["overdue_principal"] = sum(i.principal_unpaid() for i in account.instalments
                                       if i.due <= charged)
        out["arrears_since"] = next((i.due for i in account.instalments
                                     if i.due <= charged and i.in_arrears()), None)
    return out


__all__ = ["FORMAT", "NO_BREAK", "from_state", "next_break", "position", "to_state"]
