"""Who applies: the business, its owner or legal representative, guarantors and the bank account.

Why validate on construction: identity numbers are normalised once, when the record is made, so
the store, the decider and the contract all see the same canonical ID and an application with a
malformed number cannot exist.  `to_dict`/`from_dict` round-trip exactly, for storage and the API.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping

from puhui.calendar import utcnow
from puhui.errors import InvalidApplication
from puhui.parties import records as rec
from puhui.parties.identity import (
    IdentityCheck, IdentityKind, check_bank_card, check_mobile, check_resident_id, check_uscc,
    mask, normalise_bank_card, normalise_mobile, normalise_resident_id, normalise_uscc,
)

ACCOUNT_BINDING_SOURCE = "local:Luhn + holder name match"


class ApplicantKind(str, enum.Enum):
    INDIVIDUAL_BUSINESS = "individual_business"  # 个体工商户
    ENTERPRISE = "enterprise"


@dataclass(frozen=True, slots=True)
class Person:
    """An owner, a legal representative or a guarantor."""

    name: str
    resident_id: str
    mobile: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", rec.text(self.name, "name", max_len=100))
        object.__setattr__(self, "resident_id", normalise_resident_id(self.resident_id))
        object.__setattr__(self, "mobile", normalise_mobile(self.mobile))

    def to_dict(self) -> dict:
        return {"name": self.name, "resident_id": self.resident_id, "mobile": self.mobile}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Person":
        rec.mapping(d, "person", ("name", "resident_id", "mobile"))
        return cls(*(rec.typed(d, k, str, "person") for k in ("name", "resident_id", "mobile")))


@dataclass(frozen=True, slots=True)
class Applicant:
    """The business applying: a 个体工商户 (owner liable in person) or an enterprise (legal
    representative as `owner`).  Amounts are fen."""

    kind: ApplicantKind
    business_name: str
    owner: Person
    uscc: str | None = None
    industry: str = ""
    region_code: str = ""
    established_on: date | None = None
    monthly_revenue: int = 0
    guarantors: tuple[Person, ...] = ()

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", ApplicantKind(self.kind))
        except ValueError:
            raise InvalidApplication(f"unknown applicant kind {self.kind!r}; choose from "
                                     f"{[k.value for k in ApplicantKind]}") from None
        object.__setattr__(self, "business_name",
                           rec.text(self.business_name, "business_name", max_len=200))
        if not isinstance(self.owner, Person):
            raise InvalidApplication("owner must be a Person")
        if self.uscc is None or (isinstance(self.uscc, str) and not self.uscc.strip()):
            if self.kind is ApplicantKind.ENTERPRISE:
                raise InvalidApplication("an enterprise applicant needs its unified social "
                                         "credit code (uscc)")
            object.__setattr__(self, "uscc", None)
        else:
            object.__setattr__(self, "uscc", normalise_uscc(self.uscc))
        object.__setattr__(self, "industry", rec.text(self.industry, "industry", max_len=100,
                                                      required=False))
        region = rec.text(self.region_code, "region_code", required=False)
        if region and not (len(region) == 6 and region.isascii() and region.isdigit()):
            raise InvalidApplication(f"region_code must be a 6-digit administrative code, "
                                     f"got {region!r}")
        object.__setattr__(self, "region_code", region)
        if self.established_on is not None:
            rec.day(self.established_on, "established_on")
        rec.fen(self.monthly_revenue, "monthly_revenue")
        self._check_guarantors()

    def _check_guarantors(self) -> None:
        if isinstance(self.guarantors, (str, bytes, Mapping)):
            raise InvalidApplication("guarantors must be a sequence of Person")
        try:
            guarantors = tuple(self.guarantors)
        except TypeError:
            raise InvalidApplication("guarantors must be a sequence of Person") from None
        if not all(isinstance(g, Person) for g in guarantors):
            raise InvalidApplication("every guarantor must be a Person")
        ids = [g.resident_id for g in guarantors]
        if len(set(ids)) != len(ids):
            raise InvalidApplication("the same person is listed twice as a guarantor")
        if self.kind is ApplicantKind.INDIVIDUAL_BUSINESS and self.owner.resident_id in ids:
            raise InvalidApplication("the owner of an individual business is already liable in "
                                     "person and cannot also be its guarantor")
        object.__setattr__(self, "guarantors", guarantors)

    def to_dict(self) -> dict:
        return {"kind": self.kind.value, "business_name": self.business_name,
                "owner": self.owner.to_dict(), "uscc": self.uscc, "industry": self.industry,
                "region_code": self.region_code, "established_on": rec.iso(self.established_on),
                "monthly_revenue": self.monthly_revenue,
                "guarantors": [g.to_dict() for g in self.guarantors]}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Applicant":
        what = "applicant"
        rec.mapping(d, what, ("kind", "business_name", "owner"),
                    ("uscc", "industry", "region_code", "established_on", "monthly_revenue",
                     "guarantors"))
        values: dict[str, Any] = {
            "kind": rec.typed(d, "kind", str, what),
            "business_name": rec.typed(d, "business_name", str, what),
            "owner": Person.from_dict(d["owner"]),
        }
        for key, kind in (("uscc", (str, type(None))), ("industry", str), ("region_code", str),
                          ("monthly_revenue", int)):
            if key in d:
                values[key] = rec.typed(d, key, kind, what)
        if d.get("established_on") is not None:
            values["established_on"] = rec.parse_day(d["established_on"], "established_on")
        if "guarantors" in d:
            values["guarantors"] = tuple(Person.from_dict(g)
                                         for g in rec.typed(d, "guarantors", (list, tuple), what))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class BankAccount:
    """The account the loan is paid into and repaid from."""

    card_number: str
    holder_name: str
    bank_name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "card_number", normalise_bank_card(self.card_number))
        object.__setattr__(self, "holder_name", rec.text(self.holder_name, "holder_name",
                                                         max_len=200))
        object.__setattr__(self, "bank_name", rec.text(self.bank_name, "bank_name", max_len=100,
                                                       required=False))

    def to_dict(self) -> dict:
        return {"card_number": self.card_number, "holder_name": self.holder_name,
                "bank_name": self.bank_name}

    @classmethod
    def from_dict(cls, d: Mapping) -> "BankAccount":
        what = "bank account"
        rec.mapping(d, what, ("card_number", "holder_name"), ("bank_name",))
        return cls(rec.typed(d, "card_number", str, what), rec.typed(d, "holder_name", str, what),
                   rec.typed(d, "bank_name", str, what) if "bank_name" in d else "")


def verify_applicant(applicant: Applicant, on: date, checked_at: datetime | None = None
                     ) -> list[IdentityCheck]:
    """Local checks of every number in the application, all stamped with one time: the owner's
    resident ID and mobile, the USCC when given, then each guarantor's resident ID and mobile.
    Each check's details name the party it is about in "role" (owner, business, guarantor 1...)."""
    at = utcnow() if checked_at is None else checked_at
    people = [("owner", applicant.owner)] + [
        (f"guarantor {k}", g) for k, g in enumerate(applicant.guarantors, start=1)]
    checks: list[IdentityCheck] = []
    for role, person in people:
        checks.append(_with_role(check_resident_id(person.resident_id, on=on, checked_at=at), role))
        checks.append(_with_role(check_mobile(person.mobile, checked_at=at), role))
        if role == "owner" and applicant.uscc is not None:
            checks.append(_with_role(check_uscc(applicant.uscc, checked_at=at), "business"))
    return checks


def _with_role(check: IdentityCheck, role: str) -> IdentityCheck:
    return IdentityCheck(check.kind, check.subject, check.passed, check.reason, check.source,
                         check.checked_at, {**check.details, "role": role})


def name_key(name: str) -> str:
    """A name as compared for account binding: NFKC (full-width brackets and letters become
    ASCII), white space removed, case folded.  Nothing else is forgiven."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def check_account_binding(applicant: Applicant, account: BankAccount,
                          checked_at: datetime | None = None) -> IdentityCheck:
    """Whether `account` may receive the loan: a valid card held by the borrower, i.e. by the
    owner of an individual business, or by an enterprise itself or its legal representative."""
    card = check_bank_card(account.card_number, checked_at=checked_at)
    holders = {name_key(applicant.owner.name): "owner"}
    if applicant.kind is ApplicantKind.ENTERPRISE:
        holders.setdefault(name_key(applicant.business_name), "business")
    match = holders.get(name_key(account.holder_name))
    problem = None
    if not card.passed:
        problem = card.reason
    elif match is None:
        expected = (f"the owner ({applicant.owner.name})"
                    if applicant.kind is ApplicantKind.INDIVIDUAL_BUSINESS else
                    f"the business ({applicant.business_name}) or its legal representative "
                    f"({applicant.owner.name})")
        problem = f"account holder {account.holder_name} is not {expected}"
    details = dict(card.details)
    if match is not None:
        details["holder_match"] = match
    return IdentityCheck(IdentityKind.BANK_CARD, mask(account.card_number), problem is None,
                         problem or "ok", ACCOUNT_BINDING_SOURCE, card.checked_at, details)


__all__ = ["ACCOUNT_BINDING_SOURCE", "Applicant", "ApplicantKind", "BankAccount", "Person",
           "check_account_binding", "name_key", "verify_applicant"]
