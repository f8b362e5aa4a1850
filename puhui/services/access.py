"""API keys, roles and what each role may do.

Every caller is a partner (a POS, ERP or e-commerce platform embedding credit), a borrower, a
credit officer or an administrator.  A key carries one role and a subset of that role's
permissions; a partner key sees only the applicants it brought, a borrower key only its own.
Only the SHA-256 of a key's secret is stored, so a database leak does not leak working keys.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Iterable

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from puhui.calendar import utcnow
from puhui.services.errors import AccessDenied, AuthenticationFailed, InvalidRequest, NotFound
from puhui.services.ids import new_id
from puhui.store import key_repo
from puhui.store.scoping import EVERYTHING, Visibility


class Role(str, enum.Enum):
    BORROWER = "borrower"
    PARTNER = "partner"
    CREDIT_OFFICER = "credit_officer"
    ADMIN = "admin"


class Perm(str, enum.Enum):
    APPLY = "apply"                  # register applicants, consents, accounts; create/submit applications
    ACCEPT = "accept"                # accept offers, sign contracts (the borrower's own act)
    READ = "read"                    # read applicants, applications, offers, contracts, loans
    REVIEW = "review"                # decide referred applications
    DISBURSE = "disburse"            # pay out signed contracts
    REPAY = "repay"                  # post repayments
    OPERATE = "operate"              # end of day, auto-debit runs, ledger verification
    MANAGE_KEYS = "manage_keys"      # issue and revoke API keys
    SERVICE = "service"              # ask for a staff servicing operation on a loan (the maker)
    APPROVE = "approve"              # approve or reject another's servicing request (the checker)
    READ_PERSONAL = "read_personal"  # read full personal data (contract text), logged; never a
                                     # default scope: a key gets it only when issued with it


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.BORROWER: frozenset({Perm.APPLY, Perm.ACCEPT, Perm.READ, Perm.REPAY}),
    Role.PARTNER: frozenset({Perm.APPLY, Perm.ACCEPT, Perm.READ, Perm.REPAY, Perm.DISBURSE}),
    Role.CREDIT_OFFICER: frozenset({Perm.READ, Perm.REVIEW, Perm.DISBURSE, Perm.READ_PERSONAL,
                                    Perm.SERVICE, Perm.APPROVE}),
    Role.ADMIN: frozenset(Perm),
}
#: Scopes a key carries only when asked for by name at issue.
EXPLICIT_PERMS = frozenset({Perm.READ_PERSONAL})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    key_id: str
    role: Role
    perms: frozenset[Perm]
    subject: str | None  # partner id (partner) or applicant id (borrower)

    def require(self, perm: Perm) -> None:
        if perm not in self.perms:
            article = "an" if self.role.value[0] in "aeiou" else "a"
            raise AccessDenied(f"{article} {self.role.value} key with scopes "
                               f"{sorted(p.value for p in self.perms)} may not {perm.value}")

    @property
    def visibility(self) -> Visibility:
        """What a list may show this key: a partner its own applicants' records, a borrower
        its own, staff everything."""
        if self.role is Role.PARTNER:
            return Visibility("partner", self.subject)
        if self.role is Role.BORROWER:
            return Visibility("applicant", self.subject)
        return EVERYTHING

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.CREDIT_OFFICER, Role.ADMIN)

    def check_applicant(self, applicant_id: str, partner_id: str | None) -> None:
        """Refuse access to an applicant outside this key's scope (reported as not found,
        so a key cannot probe which ids exist)."""
        if self.sees_everything:
            return
        if self.role is Role.PARTNER and partner_id == self.subject:
            return
        if self.role is Role.BORROWER and applicant_id == self.subject:
            return
        raise NotFound(f"no applicant {applicant_id!r}")


SYSTEM = Principal("system", Role.ADMIN, frozenset(Perm), None)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key_id: str
    token: str  # shown once: "phk_<key_id>_<secret>"
    role: Role
    perms: frozenset[Perm]
    subject: str | None
    name: str


_PERM_VALUES = frozenset(p.value for p in Perm)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(session: Session, name: str, role: Role | str, subject: str | None = None,
              perms: Iterable[Perm | str] | None = None, now: datetime | None = None) -> IssuedKey:
    """Create a key; its token is returned once and never stored.

    A request naming an unknown role or scope, a scope beyond the role, or no subject for a
    partner or borrower key is malformed (`InvalidRequest`, 422): the caller is allowed to
    issue keys, so refusing it as forbidden (403) would point at the wrong problem.
    """
    try:
        role = Role(role)
    except ValueError:
        raise InvalidRequest(f"unknown role {role!r}; choose from {[r.value for r in Role]}") from None
    allowed = ROLE_PERMS[role]
    named = [p.value if isinstance(p, Perm) else p for p in perms or ()]
    unknown = sorted(str(p) for p in named if p not in _PERM_VALUES)
    if unknown:
        raise InvalidRequest(f"unknown scopes {unknown}; choose from {sorted(_PERM_VALUES)}")
    chosen = frozenset(Perm(p) for p in named) if perms is not None \
        else allowed - EXPLICIT_PERMS
    if not chosen <= allowed:
        raise InvalidRequest(f"scopes {sorted(p.value for p in chosen - allowed)} are beyond "
                           f"the {role.value} role")
    if role in (Role.PARTNER, Role.BORROWER) and not subject:
        raise InvalidRequest(f"a {role.value} key must name its subject (partner or applicant id)")
    if not name or len(name) > 200:
        raise InvalidRequest("a key needs a name of 1-200 characters")
    key_id = new_id("K")
    secret = secrets.token_urlsafe(24)
    key_repo.add(session, key_id=key_id, secret_hash=_digest(secret), name=name, role=role.value,
                 scopes=json.dumps(sorted(p.value for p in chosen)), subject=subject,
                 created_at=now or utcnow(), revoked_at=None)
    return IssuedKey(key_id, f"phk_{key_id}_{secret}", role, chosen, subject, name)


def authenticate(session: Session | Connection, token: str | None) -> Principal:
    """The principal a bearer token stands for, or AuthenticationFailed (checked on every
    request, not cached: a revoked key stops working at once)."""
    if not token:
        raise AuthenticationFailed("an API key is required (Authorization: Bearer <key>)")
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "phk" or not parts[1] or not parts[2]:
        raise AuthenticationFailed("malformed API key")
    row = key_repo.find(session, parts[1])
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(parts[2])):
        raise AuthenticationFailed("unknown API key")
    if row.revoked_at is not None:
        raise AuthenticationFailed("this API key was revoked")
    return Principal(row.key_id, Role(row.role), _scopes(row.scopes), row.subject)


@lru_cache(maxsize=64)
def _scopes(stored: str) -> frozenset[Perm]:
    """A key's stored scopes as permissions (few distinct texts: parsed once each)."""
    return frozenset(Perm(p) for p in json.loads(stored))


def revoke_key(session: Session, key_id: str, now: datetime) -> None:
    if key_repo.revoke(session, key_id, now) != 1:
        raise NotFound(f"no active API key {key_id!r}")
