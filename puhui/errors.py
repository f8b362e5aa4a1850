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
    └── OriginationError
        ├── InvalidIdentity        a resident ID / USCC / bank card / mobile number that fails validation
        ├── InvalidApplication     missing or inconsistent applicant/application data
        ├── ConsentError
        │   ├── ConsentMissing     no consent covers this party, data scope and purpose
        │   ├── ConsentExpired     the covering consent has expired
        │   └── ConsentRevoked     the covering consent was revoked
        ├── IllegalTransition      an application state change the workflow does not allow
        └── OfferExpired           accepting an offer after it expired
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
