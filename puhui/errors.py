"""Every error Puhui raises on purpose, in one tree.

A caller (the API, the CLI, a batch job) can map each class to a clear answer without parsing
messages, and a bug (anything outside this tree) stays distinguishable from bad input.

    PuhuiError
    ├── MoneyError
    │   ├── InvalidAmount          zero/negative where a positive amount is required, bad precision
    │   └── UnknownCurrency        not an ISO 4217 code Puhui knows
    ├── CalendarError
    │   ├── InvalidRate            negative, NaN, too precise, or not a rate at all
    │   ├── DateOrderError         a date before the one it must follow
    │   └── InvalidBusinessDate    an end of day behind the last closed date or ahead of today
    ├── ProductError
    │   ├── InvalidProduct         inconsistent or out-of-range product terms
    │   ├── RateCapExceeded        nominal or IRR-annualised cost above the configured cap
    │   ├── InvalidRateCap         a rate cap setting or LPR publication out of bounds or retroactive
    │   └── NoRateCapInForce       no cap setting (or no LPR for an LPR multiple) on that date
    ├── ServicingError
    │   ├── LoanClosed             money event on a closed or written-off loan
    │   ├── InvalidEvent           an event that does not fit the loan's state
    │   ├── IdempotencyConflict    a known idempotency key arrives with different content
    │   └── ConcurrentModification someone else changed the loan since it was read
    ├── LedgerError
    │   ├── UnbalancedEntry        debits and credits differ (per currency)
    │   ├── UnknownAccount         an account code outside the chart
    │   ├── UnknownEntry           a journal entry that does not exist
    │   ├── ImmutableEntry         an attempt to change or remove a posted entry
    │   ├── TamperDetected         the hash chain does not verify
    │   └── InvalidAttestation     a malformed document hash, or an attestation with postings
    ├── LineError
    │   ├── IllegalLineTransition  a credit line status change the lifecycle does not allow
    │   ├── LineNotDrawable        a draw on a line that is frozen, expired or closed
    │   ├── DrawExceedsAvailable   a draw above the line's available amount
    │   ├── DrawBelowMinimum       a draw below the product's minimum principal
    │   └── InvalidLineChange      a limit, price or expiry out of bounds, or an empty change
    └── OriginationError
        ├── InvalidIdentity        a resident ID / USCC / bank card / mobile number that fails validation
        ├── InvalidApplication     missing or inconsistent applicant/application data
        ├── ConsentError
        │   ├── ConsentMissing     no consent covers this party, data scope and purpose
        │   ├── ConsentExpired     the covering consent has expired
        │   └── ConsentRevoked     the covering consent was revoked
        ├── IllegalTransition      an application state change the workflow does not allow
        └── OfferExpired           accepting an offer after it expired

Two more trees are faults of the deployment or of concurrency, never the caller's input, so they
are not `PuhuiError`s (a bug and a bad request stay distinguishable from them):

    KeyringError                   a personal-data key missing, malformed or not opening a value
    ├── KeyMissing                 the master key a data key was wrapped with is not in the ring
    └── SealBroken                 a sealed value or wrapped key does not authenticate
    StorageError                   the database refused or failed a statement
    ├── WriteConflict              a constraint refused a write (a concurrent request got there first)
    └── StorageUnavailable         the database is busy, locked or unreachable

The store raises its driver's errors as these (`puhui.store.faults`), so the layers above it
handle them without knowing which database or driver is underneath.
"""

from __future__ import annotations


class PuhuiError(Exception):
    """Root of every deliberate Puhui error."""


class MoneyError(PuhuiError):
    pass


class InvalidAmount(MoneyError, ValueError):
    pass


class UnknownCurrency(MoneyError, ValueError):
    pass


class CalendarError(PuhuiError):
    pass


class InvalidRate(CalendarError, ValueError):
    pass


class DateOrderError(CalendarError, ValueError):
    pass


class InvalidBusinessDate(CalendarError, ValueError):
    """An end of day for a date the book may not close: before the last closed date, or ahead
    of the real business date."""


class ProductError(PuhuiError):
    pass


class InvalidProduct(ProductError, ValueError):
    pass


class RateCapExceeded(ProductError):
    pass


class InvalidRateCap(ProductError, ValueError):
    pass


class NoRateCapInForce(ProductError):
    pass


class ServicingError(PuhuiError):
    pass


class LoanClosed(ServicingError):
    pass


class InvalidEvent(ServicingError, ValueError):
    pass


class IdempotencyConflict(ServicingError):
    pass


class ConcurrentModification(ServicingError):
    """An optimistic update lost the race: re-read the loan and try again."""


class CloseInProgress(ConcurrentModification):
    """A daily close of the book is already running: one close at a time."""


class LedgerError(PuhuiError):
    pass


class UnbalancedEntry(LedgerError, ValueError):
    pass


class UnknownAccount(LedgerError, KeyError):
    pass


class UnknownEntry(LedgerError, LookupError):
    pass


class ImmutableEntry(LedgerError):
    pass


class TamperDetected(LedgerError):
    pass


class InvalidAttestation(LedgerError, ValueError):
    pass


class CheckpointError(LedgerError):
    """A signed checkpoint or key that cannot be used: unreadable, malformed, signed by another
    key, or with a signature that fails."""


class LineError(PuhuiError):
    """A credit line (授信额度) refused a draw or a change; nothing was written."""


class IllegalLineTransition(LineError):
    pass


class LineNotDrawable(LineError):
    pass


class DrawExceedsAvailable(LineError):
    pass


class DrawBelowMinimum(LineError, ValueError):
    pass


class InvalidLineChange(LineError, ValueError):
    pass


class OriginationError(PuhuiError):
    pass


class InvalidIdentity(OriginationError, ValueError):
    pass


class InvalidApplication(OriginationError, ValueError):
    pass


class ConsentError(OriginationError):
    """Personal data may not be used: no consent covers the party, scope and purpose (PIPL)."""


class ConsentMissing(ConsentError):
    pass


class ConsentExpired(ConsentError):
    pass


class ConsentRevoked(ConsentError):
    pass


class IllegalTransition(OriginationError):
    pass


class OfferExpired(OriginationError):
    pass


class KeyringError(RuntimeError):
    """A key is missing, malformed or does not open the ciphertext (tampered or wrong key).

    Not a `PuhuiError`: it is never the caller's mistake but a fault of the deployment or the
    data.  The API answers it with a 503 problem detail that names neither keys nor personal
    data (`puhui.api.problems`), the CLI with a one-line message and a non-zero exit; the server
    log says which key id is at fault."""


class KeyMissing(KeyringError):
    """The master key a data key was wrapped with is not in the keyring: the deployment is
    missing a key (wrong key file, an incomplete `PUHUI_DATA_KEYS`, a retired key still in use).
    `key_id` names the missing key (an id, never key material) for the operator's log."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"master key {key_id!r} is not in the keyring")
        self.key_id = key_id


class SealBroken(KeyringError):
    """A sealed value or wrapped key does not authenticate: the ciphertext was altered, moved
    to another row, or the key under its id is not the one it was sealed with.  An integrity
    fault, logged loudly; the data is never shown."""


class StorageError(Exception):
    """The database refused or failed a statement.

    The store raises its driver's errors with these classes mixed in (`puhui.store.faults`): an
    error is still the database library's own (code beside the store may catch it as such) and
    is also one of these, which the services and the API handle without importing the library.
    """


class WriteConflict(StorageError):
    """A unique, foreign-key or check constraint refused a write: usually a concurrent request
    wrote the same thing first (the same idempotency key, the same contract paid out)."""


class StorageUnavailable(StorageError):
    """The database is busy (a lock not granted in time), read-only or unreachable: nothing was
    changed, and a retry later may succeed."""
