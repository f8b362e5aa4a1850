"""Consent to process personal data, as the Personal Information Protection Law requires.

Why records, not flags: PIPL consent is specific (this data, for this purpose), can be withdrawn
at any time and must be provable afterwards.  A `Consent` is therefore an immutable record of what
was agreed, on which text version and channel, and when it ends; revoking makes a new record.
Every use of personal data asks `require_consent` first and gets either the covering consent (to
log beside the use) or the most specific reason why it may not proceed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Iterable, Mapping

from puhui.errors import (
    ConsentExpired, ConsentMissing, ConsentRevoked, InvalidApplication,
)
from puhui.parties import records as rec


class DataScope(str, enum.Enum):
    IDENTITY = "identity"
    BANK_ACCOUNT = "bank_account"
    TAX = "tax"                        # 税务数据
    SALES = "sales"                    # e-commerce / POS sales
    UTILITY = "utility"
    LOGISTICS = "logistics"
    BANK_STATEMENT = "bank_statement"
    BUREAU = "bureau"                  # 征信
    APP_BEHAVIOUR = "app_behaviour"


class Purpose(str, enum.Enum):
    CREDIT_ASSESSMENT = "credit_assessment"
    LOAN_SERVICING = "loan_servicing"
    POST_LOAN_MONITORING = "post_loan_monitoring"


def _enum(kind: type[enum.Enum], value: object, what: str) -> enum.Enum:
    try:
        return kind(value)
    except ValueError:
        raise InvalidApplication(f"unknown {what} {value!r}; choose from "
                                 f"{[k.value for k in kind]}") from None


@dataclass(frozen=True, slots=True)
class Consent:
    """One party's consent to the use of some data scopes for one purpose, for a limited time.
    Valid from `granted_at` (inclusive) to `expires_at` (exclusive) unless revoked earlier."""

    consent_id: str
    party_id: str
    purpose: Purpose
    scopes: frozenset[DataScope]
    granted_at: datetime
    expires_at: datetime
    channel: str = "api"
    text_version: str = "v1"
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("consent_id", "party_id", "channel", "text_version"):
            object.__setattr__(self, name, rec.text(getattr(self, name), name, max_len=200))
        object.__setattr__(self, "purpose", _enum(Purpose, self.purpose, "purpose"))
        if isinstance(self.scopes, (str, DataScope)):
            raise InvalidApplication("scopes must be a collection of data scopes, not one scope")
        try:
            scopes = frozenset(_enum(DataScope, s, "data scope") for s in self.scopes)
        except TypeError:
            raise InvalidApplication("scopes must be a collection of data scopes") from None
        if not scopes:
            raise InvalidApplication("a consent must name at least one data scope")
        object.__setattr__(self, "scopes", scopes)
        for name in ("granted_at", "expires_at"):
            object.__setattr__(self, name, rec.utc(getattr(self, name), name))
        if self.expires_at <= self.granted_at:
            raise InvalidApplication("a consent must expire after it is granted")
        if self.revoked_at is not None:
            object.__setattr__(self, "revoked_at", rec.utc(self.revoked_at, "revoked_at"))
            if self.revoked_at < self.granted_at:
                raise InvalidApplication("a consent cannot be revoked before it is granted")

    def status(self, at: datetime) -> str:
        """"revoked" from `revoked_at` on, else "not_yet_valid", "active" or "expired"."""
        at = rec.utc(at, "at")
        if self.revoked_at is not None and at >= self.revoked_at:
            return "revoked"
        if at < self.granted_at:
            return "not_yet_valid"
        return "active" if at < self.expires_at else "expired"

    def matches(self, scope: DataScope | str, purpose: Purpose | str) -> bool:
        """Whether this consent is about `scope` for `purpose`, whatever its status."""
        return (_enum(Purpose, purpose, "purpose") is self.purpose
                and _enum(DataScope, scope, "data scope") in self.scopes)

    def covers(self, scope: DataScope | str, purpose: Purpose | str, at: datetime) -> bool:
        return self.matches(scope, purpose) and self.status(at) == "active"

    def revoke(self, at: datetime) -> "Consent":
        """A copy revoked at `at`; a consent is withdrawn once, so a second revoke is refused."""
        if self.revoked_at is not None:
            raise ConsentRevoked(f"consent {self.consent_id} was already revoked at "
                                 f"{self.revoked_at.isoformat()}")
        return replace(self, revoked_at=rec.utc(at, "at"))

    def to_dict(self) -> dict:
        return {"consent_id": self.consent_id, "party_id": self.party_id,
                "purpose": self.purpose.value,
                "scopes": sorted(s.value for s in self.scopes),
                "granted_at": self.granted_at.isoformat(),
                "expires_at": self.expires_at.isoformat(),
                "channel": self.channel, "text_version": self.text_version,
                "revoked_at": rec.iso(self.revoked_at)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Consent":
        what = "consent"
        rec.mapping(d, what, ("consent_id", "party_id", "purpose", "scopes", "granted_at",
                              "expires_at"), ("channel", "text_version", "revoked_at"))
        revoked = d.get("revoked_at")
        return cls(
            rec.typed(d, "consent_id", str, what), rec.typed(d, "party_id", str, what),
            rec.typed(d, "purpose", str, what),
            frozenset(rec.typed(d, "scopes", (list, tuple), what)),
            rec.parse_utc(d["granted_at"], "granted_at"),
            rec.parse_utc(d["expires_at"], "expires_at"),
            rec.typed(d, "channel", str, what) if "channel" in d else "api",
            rec.typed(d, "text_version", str, what) if "text_version" in d else "v1",
            None if revoked is None else rec.parse_utc(revoked, "revoked_at"))


def grant(consent_id: str, party_id: str, purpose: Purpose | str,
          scopes: Iterable[DataScope | str], granted_at: datetime,
          valid_for: timedelta = timedelta(days=365), channel: str = "api",
          text_version: str = "v1") -> Consent:
    """A new consent valid from `granted_at` for `valid_for` (a year unless stated)."""
    if not isinstance(valid_for, timedelta) or valid_for <= timedelta(0):
        raise InvalidApplication(f"valid_for must be a positive timedelta, got {valid_for!r}")
    granted = rec.utc(granted_at, "granted_at")
    return Consent(consent_id, party_id, purpose, scopes, granted, granted + valid_for,
                   channel, text_version)


def require_consent(consents: Iterable[Consent], party_id: str, scope: DataScope,
                    purpose: Purpose, at: datetime) -> Consent:
    """The consent that lets `party_id`'s `scope` data be used for `purpose` at `at`.

    When several cover, the one lasting longest is returned (ties: the smallest id), so the
    answer does not depend on the order of `consents`.  When none covers, the error is the most
    specific one: `ConsentRevoked` if a consent would cover but was withdrawn, else
    `ConsentExpired` if one had run out, else `ConsentMissing`.
    """
    scope = _enum(DataScope, scope, "data scope")
    purpose = _enum(Purpose, purpose, "purpose")
    at = rec.utc(at, "at")
    relevant = [c for c in consents if c.party_id == party_id and c.matches(scope, purpose)]
    covering = [c for c in relevant if c.status(at) == "active"]
    if covering:
        return max(sorted(covering, key=lambda c: c.consent_id), key=lambda c: c.expires_at)
    about = f"party {party_id} for {scope.value} data and purpose {purpose.value}"
    revoked = sorted(c.consent_id for c in relevant
                     if c.status(at) == "revoked" and c.granted_at <= at < c.expires_at)
    if revoked:
        raise ConsentRevoked(f"the consent of {about} was revoked ({', '.join(revoked)})")
    expired = sorted(c.consent_id for c in relevant if at >= c.expires_at)
    if expired:
        raise ConsentExpired(f"the consent of {about} has expired ({', '.join(expired)})")
    raise ConsentMissing(f"no consent covers {about} at {at.isoformat()}")

