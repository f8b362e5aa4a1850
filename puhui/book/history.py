"""A loan's history and what is derived from it: the replay, and the snapshot checks.

A loan's history is its stored events and the closes of its id range, in chain order
(docs/ledger.md, "The daily close").  `replay_history` folds it from nothing: the reference
definition of the loan's state, which snapshots must agree with (`agrees`) and a plain close's
roll-forward reproduces (`roll_forward`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Optional, Union

from puhui.errors import InvalidEvent
from puhui.loans.events import EndOfDay, LoanEvent, Reschedule, event_from_content
from puhui.loans.product import Component, LoanProduct, RepaymentMethod
from puhui.loans.revolving import RevolvingLine
from puhui.loans.servicing import Loan
from puhui.loans.snapshot import from_state, position, to_state
from puhui.loans.state import InstalmentState, LoanStatus

Account = Union[Loan, RevolvingLine]


def new_account(loan_id: str, product: LoanProduct) -> Account:
    """A term loan or a revolving line, whichever the product describes."""
    if product.method is RepaymentMethod.REVOLVING:
        return RevolvingLine(loan_id, product)
    return Loan(loan_id, product)


@dataclass
class Replayed:
    """A loan rebuilt from its full history: the account, its last event's seq, the last close
    applied, and what the plain closes charged it (posted in the product's summary entries,
    not in the loan's own)."""

    account: Account
    seq: int
    closed_through: date | None
    summarised: dict[str, int]


@dataclass
class SnapshotCheck:
    """What `verify_snapshots` found: loans checked, snapshots missing or disagreeing with the
    history, and how many were written again."""

    loans: int = 0
    missing: list[str] = field(default_factory=list)
    disagreeing: list[str] = field(default_factory=list)
    rebuilt: int = 0

    @property
    def agrees(self) -> bool:
        return not self.missing and not self.disagreeing


def agrees(stored: tuple, expected: tuple, done: "Replayed") -> bool:
    """Whether a stored (seq, closed through, state, position) is the replayed loan: the state
    brought to its last close as a load does, the position's figures, the same close."""
    seq, snap_closed, state, pos = stored
    if seq != done.seq or pos.get("closed_through") != expected[2]:
        return False
    try:
        account = from_state(state)
    except InvalidEvent:
        return False
    closed = pos.get("closed_through")
    if closed is not None and (snap_closed is None or closed > snap_closed):
        roll_forward(account, closed)
    if to_state(account) != expected[0]:
        return False
    now = position(account)
    # a plain close moves `charged_to` in the position without rewriting the snapshot
    keep = ("charged_to", "last_date")
    return {k: v for k, v in pos.items() if k not in keep + ("closed_through",)} == \
        {k: v for k, v in expected[1].items() if k not in keep} and \
        pos["charged_to"] == now["charged_to"]


def same_event(stored: dict, event: LoanEvent) -> bool:
    """Whether stored content is `event` (the rules version it was booked under aside)."""
    return ({k: v for k, v in stored.items() if k != "rules"}
            == {k: v for k, v in event.content().items() if k != "rules"})


def last_per_loan(saves: list) -> list:
    last = {s[0]: s for s in saves}
    return list(last.values())


def roll_forward(account: Account, closed: date) -> None:
    """Bring a snapshot to the loan's last close: the closes since it were plain (anything else
    rewrites the snapshot), and closing plain days one by one or at once charges the same."""
    account.apply(EndOfDay(f"eod:{closed.isoformat()}", closed), replay=True)


def opened_on(account: Account) -> date | None:
    return account.opened_on if isinstance(account, RevolvingLine) else account.disbursed_on


def replay_history(loan_id: str, product: LoanProduct, events: list[dict],
                   closes: list[tuple[date, int, set[str]]],
                   observe: Optional[Callable[[Account, date, LoanEvent], None]] = None
                   ) -> Replayed:
    """Fold a loan's stored events and the closes of its range in chain order: each close
    follows the events stored before its partition committed, and applies to the loan when the
    close took it (active, paid out by the day, not reported as failed).  The reference
    definition of a loan's state; snapshots must agree with it.

    `observe(account, day, event)` is called after each event and each close applied (the
    close as its `EndOfDay`), with its business date: what a question about the loan's past
    (when was an instalment settled?) needs, read from what happened rather than from today's
    state."""
    account = new_account(loan_id, product)
    summarised: dict[str, int] = {}
    closed_through: date | None = None
    i = 0

    def upto(head: int) -> None:
        nonlocal i
        while i < len(events) and events[i]["chain_seq"] <= head:
            event = event_from_content(events[i]["payload"], stored=True)
            account.apply(event, replay=True)
            i += 1
            if observe is not None:
                observe(account, event.on, event)

    for day, head, failed in closes:
        upto(head)
        opened = opened_on(account)
        if (loan_id in failed or account.status is not LoanStatus.ACTIVE or opened is None
                or opened > day or (closed_through is not None and closed_through >= day)):
            continue
        pos = position(account)
        plain = (day < pos["next_break"] and pos["last_date"] is not None
                 and pos["last_date"] <= day and pos["charged_to"] is not None
                 and pos["charged_to"] < day)
        close = EndOfDay(f"eod:{day.isoformat()}", day)
        drafts = account.apply(close, replay=True)
        closed_through = day
        if observe is not None:
            observe(account, day, close)
        if plain:
            for d in drafts:
                for p in d.postings:
                    summarised[p.account] = summarised.get(p.account, 0) + p.amount
    upto(events[-1]["chain_seq"] if events else 0)
    return Replayed(account, len(events), closed_through, summarised)


def settled(inst: InstalmentState) -> bool:
    """Whether the borrower has paid an instalment in full: its principal and interest paid,
    its fee paid or waived (an amount written off or capitalised by a reschedule is not
    paid)."""
    return (inst.paid[Component.PRINCIPAL] >= inst.principal
            and inst.paid[Component.INTEREST] >= inst.interest
            and inst.paid[Component.FEE] + inst.written_off[Component.FEE] >= inst.fee)


def settlement_dates(loan_id: str, product: LoanProduct, events: list[dict],
                     closes: list[tuple[date, int, set[str]]]) -> list[tuple[date, date | None]]:
    """`settlement_history` without whether a close could still change it."""
    return settlement_history(loan_id, product, events, closes)[0]


def replaced(inst: InstalmentState) -> bool:
    """Whether a reschedule took over everything still owed on an instalment: its unpaid
    principal moved to the new schedule (what is left of it is what was paid) and its unpaid
    interest and fee capitalised into it.  Nothing is left to pay on it, though it was not paid
    (`settled`): the new schedule carries the debt, and is judged on its own."""
    return (inst.paid[Component.PRINCIPAL] >= inst.principal
            and inst.paid[Component.INTEREST] + inst.capitalised[Component.INTEREST]
            >= inst.interest
            and inst.paid[Component.FEE] + inst.written_off[Component.FEE]
            + inst.capitalised[Component.FEE] >= inst.fee)


def settlement_history(loan_id: str, product: LoanProduct, events: list[dict],
                       closes: list[tuple[date, int, set[str]]]
                       ) -> tuple[list[tuple[date, date | None]], bool]:
    """Each instalment's due date and the business date it became fully settled (None while it
    is not), from the loan's history replayed event by event.

    Why the history and not today's state: an instalment paid a day late looks the same today
    as one paid on time.  A receipt reversed later un-settles what it settled (the replay without
    it says so, and a later settlement dates it again).  A revolving line has no instalments:
    nothing.  Also whether a later close alone could change them (`awaits_close` of the
    replayed loan).

    A reschedule on day D (`puhui.loans.operations.reschedule`) keeps the instalments that fell
    due by D and moves what is unpaid on them to a new schedule; it ends the running period on
    D and drops the later ones.  So:

    - an instalment due on or before D and not settled by then is settled on D (`replaced`):
      its lateness happened and stays (late unless it fell due on D itself), but the debt it
      was is the new schedule's now, so it does not stay open for ever.  One settled before
      keeps its date.  One whose arrears the reschedule left owing (`capitalise_arrears`
      False) is still owed: it is settled when they are paid.
    - the running period and the later instalments never fell due: they are gone from the
      record, neither on time nor late (the borrower neither paid nor missed them).  The
      running period is left out even though the loan keeps it, cut to end on D, unless
      something stays owed on it (uncapitalised accrued interest): then it is an instalment
      due on D like any other.
    - the new schedule's instalments are judged on their own."""
    seen: dict[tuple[int, date], date | None] = {}
    gone_keys: dict[tuple[int, date], date | None] = {}
    moved_on: dict[tuple[int, date], date] = {}  # the reschedule that took the instalment over
    ended: set[tuple[int, date]] = set()  # running periods a reschedule ended: left out
    reschedules: list[date] = []

    def moved_day(key: tuple[int, date]) -> date:
        # known when the reschedule was observed; after a reversal re-ran the history without
        # a receipt, the first reschedule on or after the due date is the one that took it
        return moved_on.get(key) or min(d for d in reschedules if d >= key[1])

    def observe(account: Account, day: date, event: LoanEvent) -> None:
        if isinstance(account, RevolvingLine):
            return
        now = {(i.number, i.due): i for i in account.instalments}
        if isinstance(event, Reschedule):
            reschedules.append(day)
            before = {number for number, _ in seen}
            for k, inst in now.items():
                if k not in seen and k[0] in before and not inst.in_arrears():
                    ended.add(k)
                elif k in seen and k not in moved_on and not settled(inst) and replaced(inst):
                    moved_on[k] = day
        for k in list(seen):
            if k not in now:
                gone = seen.pop(k)
                if k[1] < day:
                    gone_keys[k] = gone if gone is not None else day
        for k, inst in now.items():
            if k in ended:
                continue
            if settled(inst):
                if seen.get(k) is None:
                    seen[k] = day
            elif replaced(inst) and any(d >= k[1] for d in reschedules):
                seen[k] = moved_day(k)
            else:
                seen[k] = None

    done = replay_history(loan_id, product, events, closes, observe)
    out = {**gone_keys, **seen}
    return (sorted(((due, on) for (_, due), on in out.items()), key=lambda x: x[0]),
            awaits_close(done.account))


def awaits_close(account: Account) -> bool:
    """Whether a close with no event before it could still settle one of the loan's
    instalments: only a close's use of the borrower's credit balance pays an instalment (its
    accruals and fees change no instalment's principal, interest or fee due), and it uses
    credit only of an active term loan holding some.  Otherwise the settlement dates stay as
    they are until the loan's next event."""
    return (isinstance(account, Loan) and account.status is LoanStatus.ACTIVE
            and account.credit > 0)


__all__ = ["Account", "Replayed", "SnapshotCheck", "agrees", "awaits_close", "last_per_loan",
           "new_account", "opened_on", "replaced", "replay_history", "roll_forward", "same_event",
           "settled", "settlement_dates", "settlement_history"]
