"""Every error collections raise on purpose, a subtree of `puhui.errors.PuhuiError`.

    PuhuiError
    └── CollectionsError
        ├── ContactRefused           a contact the rules forbid (hours, frequency, third party);
        │                            only the refusal is recorded, in the audit trail
        ├── InvalidCollectionsInput  a request that is malformed (ValueError): an unknown
        │                            outcome, a promise in the past, a non-positive amount
        ├── CaseClosed               an act on a case that is closed
        ├── OfferNotOpen             accepting or declining an offer already decided or expired
        └── RestructuringRefused     terms the borrower cannot afford or the rules do not allow
                                     (terms above the rate cap are `RateCapExceeded`)
"""

from __future__ import annotations

from puhui.errors import PuhuiError


class CollectionsError(PuhuiError):
    """Root of every deliberate collections error."""


class ContactRefused(CollectionsError):
    """The contact rules forbid this attempt; `rule` names which one."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class InvalidCollectionsInput(CollectionsError, ValueError):
    pass


class CaseClosed(CollectionsError):
    pass


class OfferNotOpen(CollectionsError):
    pass


class RestructuringRefused(CollectionsError):
    pass
