"""What every serviced credit account shares: events in, balanced journal entries out.

`apply` is all-or-nothing: the event runs against a working copy that is adopted only when it
succeeds.  A known idempotency key with the same content is a no-op; with other content it is
refused.  Reversals re-run the account's history without the reversed receipt and post, besides
the mirror of the receipt's own entries, one reprocessing entry for whatever else changed (the
penalty that a bounced payment would have stopped, say), so the ledger stays append-only.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from datetime import date
from typing import Any, ClassVar, Iterable, TypeVar

from puhui.errors import DateOrderError, IdempotencyConflict, InvalidEvent
from puhui.ledger.journal import EntryDraft, Posting, balances_of
from puhui.loans.delinquency import DEFAULT_POLICY, DelinquencyPolicy
from puhui.loans.events import PAYMENT_KINDS, RULES, LoanEvent, PaymentReversal
from puhui.loans.product import LoanProduct

Entries = list[tuple[str, list[tuple[str, int]]]]
A = TypeVar("A", bound="ServicedAccount")


class ServicedAccount:
    """Base of `Loan` and `RevolvingLine`: identity, event log, idempotency, replay, reversal."""

    REVERSIBLE: ClassVar[tuple[type[LoanEvent], ...]] = PAYMENT_KINDS
    #: True only while an event from stored history is being re-applied (`apply(...,
    #: replay=True)`): the rules added since it was accepted (no receipt above the payoff) do
    #: not refuse it, and it is booked as the rules of its time booked it.
    replaying: bool = False

    def __init__(self, loan_id: str, product: LoanProduct,
                 delinquency: DelinquencyPolicy = DEFAULT_POLICY) -> None:
        if not loan_id:
            raise InvalidEvent("an account needs an id")
        self.loan_id = loan_id
        self.contract_product = product
        self.product = product
        self.delinquency = delinquency
        self.last_date: date | None = None
        self.applied: dict[str, str] = {}
        self.history: list[tuple[LoanEvent, tuple[EntryDraft, ...]]] = []
        self.reversed: set[str] = set()

    @classmethod
    def replay(cls: type[A], loan_id: str, product: LoanProduct, events: Iterable[LoanEvent],
               **options: Any) -> A:
        """Rebuild an account from its event log (stored history: see `apply`'s `replay`)."""
        account = cls(loan_id, product, **options)
        for event in events:
            account.apply(event, replay=True)
        return account

    def _fresh(self: A) -> A:
        return type(self)(self.loan_id, self.contract_product, self.delinquency)

    def apply(self, event: LoanEvent, replay: bool = False) -> list[EntryDraft]:
        """Apply one event; return the journal entries it posts (none for a replayed event).

        `replay`: the event is stored history, accepted when it was written, being re-applied to
        rebuild the account.  Rules that refuse a *new* event for its amount (above the payoff,
        above what is written off) do not refuse it; it is booked as those rules' predecessors
        booked it (an excess held as credit), and an event accepted under older servicing rules
        (`event.rules`) is booked under those.  Everything else (dates in order, idempotency,
        state transitions) applies as always.  New events are applied with `replay=False` and
        must name the current rules."""
        if event.rules != RULES and not replay:  # history keeps its rules; new events get today's
            raise InvalidEvent(f"{self.loan_id}: event {event.key!r} names servicing rules "
                               f"{event.rules}; a new event is accepted under rules {RULES} only")
        digest = event.content_hash()
        known = self.applied.get(event.key)
        if known is not None:
            if known == digest:
                return []
            raise IdempotencyConflict(
                f"{self.loan_id}: key {event.key!r} was already used for a different event")
        if self.last_date is not None and event.on < self.last_date:
            raise DateOrderError(f"{self.loan_id}: event {event.key!r} dated {event.on} is "
                                 f"before the last event on {self.last_date}")
        work = self._working_copy()
        work.replaying = replay
        raw = work._reverse(event) if isinstance(event, PaymentReversal) else work._handle(event)
        work.replaying = False
        currency = self.product.currency
        drafts = [
            EntryDraft(event.on, desc,
                       tuple(Posting(a, amt, currency, self.loan_id) for a, amt in lines if amt),
                       f"{self.loan_id}:{event.key}:{n}", self.loan_id).validate()
            for n, (desc, lines) in enumerate(e for e in raw if any(amt for _, amt in e[1]))
        ]
        self.__dict__.update(work.__dict__)
        self.applied[event.key] = digest
        self.history.append((event, tuple(drafts)))
        self.last_date = max(self.last_date or event.on, event.on)
        return drafts

    def posted(self) -> list[Posting]:
        """Every posting this account has made, in order (its sub-ledger)."""
        return [p for _, drafts in self.history for d in drafts for p in d.postings]

    # -- for subclasses ---------------------------------------------------------------------------
    def _handle(self, event: LoanEvent) -> Entries:
        raise NotImplementedError

    def _working_copy(self: A) -> A:
        """A copy whose mutable state can change without touching self (subclasses deepen it)."""
        work = copy.copy(self)
        work.reversed = set(self.reversed)
        return work

    def _reverse(self, event: PaymentReversal) -> Entries:
        """Undo a receipt: re-run the history without it and post the difference."""
        target = next((e for e, _ in self.history if e.key == event.target), None)
        if target is None or not isinstance(target, self.REVERSIBLE):
            raise InvalidEvent(f"{self.loan_id}: no reversible event with key {event.target!r}")
        if target.key in self.reversed:
            raise InvalidEvent(f"{self.loan_id}: {event.target!r} is already reversed")
        skip = self.reversed | {target.key}
        rebuilt = self._fresh()
        for past, _ in self.history:
            if past.key in skip or isinstance(past, PaymentReversal):
                continue
            try:
                rebuilt.apply(past, replay=True)  # already accepted: its own rules hold
            except Exception as exc:
                raise InvalidEvent(f"reversing {target.key!r} would invalidate later event "
                                   f"{past.key!r} ({exc}); reverse that first") from exc
        mirror = [(p.account, -p.amount) for e, ds in self.history if e.key == target.key
                  for d in ds for p in d.postings]
        without: dict[str, int] = defaultdict(int)
        for (acct, _), amt in balances_of(self.posted()).items():
            without[acct] += amt
        for acct, amt in mirror:
            without[acct] += amt
        after = {acct: amt for (acct, _), amt in balances_of(rebuilt.posted()).items()}
        adjust = sorted((acct, after.get(acct, 0) - without.get(acct, 0))
                        for acct in set(without) | set(after))
        keep = {"applied", "history", "last_date"}
        self.__dict__.update({k: v for k, v in rebuilt.__dict__.items() if k not in keep})
        self.reversed = skip
        return [(f"reversal of {target.kind} {target.key}", mirror),
                (f"reprocessing after reversal of {target.key}", adjust)]
