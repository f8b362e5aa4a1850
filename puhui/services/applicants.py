"""Applicants, their identity checks, bound bank accounts and PIPL consents.

Consent comes first: no personal data source is queried for an applicant unless a consent
covering that data scope and purpose is in force at that moment, and every grant, revocation,
use and refused use is written to the append-only consent log a regulator can read.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Iterable

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from puhui.errors import ConsentError, InvalidApplication, InvalidIdentity
from puhui.json_text import dumps
from puhui.parties.consent import Consent, DataScope, Purpose, grant, require_consent
from puhui.parties.identity import IdentityCheck, mask
from puhui.parties.applicant import Applicant, BankAccount, check_account_binding
from puhui.services.access import Perm, Principal, Role
from puhui.services.clock import business_date
from puhui.services.errors import AccessDenied, NotFound, PersonalDataErased
from puhui.services.ids import new_id
from puhui.services.planned import check_at_commit
from puhui.services.platform import Platform, keep_on_failure
from puhui.store import applicant_repo as repo
from puhui.store.crypto import (Keyring, context, is_sealed, keyring_of, new_data_key,
                                open_sealed, seal)


def _json(value: Any) -> str:
    return dumps(value, sort_keys=True)


# -- personal data at rest ------------------------------------------------------------------------
# Every personal field is sealed under its applicant's data key (puhui.store.crypto); rows
# written before encryption was introduced hold plain JSON and are read as they are until
# `puhui privacy rotate` seals them.


def applicant_key(session: Session | Connection, applicant_id: str) -> bytes | None:
    """The applicant's data key; None for a row from before encryption; PersonalDataErased
    once it was destroyed."""
    row = repo.data_key(session, applicant_id)
    if row is None:
        raise NotFound(f"no applicant {applicant_id!r}")
    return _key(session, applicant_id, row)


def key_of_row(bind: Session | Connection, row: Any) -> bytes | None:
    """`applicant_key` from the applicant's row already read (a bulk reader has it): the
    same key, or the same refusal, without reading the row again."""
    return _key(bind, row.applicant_id, row)


def _key(bind: Session | Connection, applicant_id: str, row: Any) -> bytes | None:
    if row.erased_at is not None:
        raise PersonalDataErased(f"the personal data of applicant {applicant_id} was erased")
    if row.data_key is None:
        return None
    return keyring_of(bind).unwrap(row.data_key, applicant_id)


def sealed_with(key: bytes | None, text: str, where: str) -> str:
    """`sealed` under a key already unwrapped (`key_of_row`)."""
    return text if key is None else seal(key, text, where)


def unsealed_with(key: bytes | None, applicant_id: str, stored: str, where: str) -> str:
    """`unsealed` under a key already unwrapped (`key_of_row`)."""
    if not is_sealed(stored):
        return stored
    if key is None:
        raise PersonalDataErased(f"applicant {applicant_id} has no data key for {where}")
    return open_sealed(key, stored, where)


def sealed(session: Session | Connection, applicant_id: str, text: str, where: str) -> str:
    """`text` sealed under the applicant's data key (as is for a pre-encryption applicant)."""
    return sealed_with(applicant_key(session, applicant_id), text, where)


def unsealed(session: Session | Connection, applicant_id: str, stored: str, where: str) -> str:
    """The plaintext of a stored field (a pre-encryption value comes back as it is)."""
    if not is_sealed(stored):
        return stored
    return unsealed_with(applicant_key(session, applicant_id), applicant_id, stored, where)


def lookup_hashes(ring: Keyring, applicant: Applicant) -> dict[str, str]:
    """Keyed hashes of the owner's numbers, the only form they can be searched in."""
    return {"owner_id_hash": ring.lookup_hash("resident_id", applicant.owner.resident_id),
            "mobile_hash": ring.lookup_hash("mobile", applicant.owner.mobile)}


# -- applicants -----------------------------------------------------------------------------------
def register_applicant(p: Platform, session: Session, actor: Principal,
                       applicant: Applicant) -> dict:
    """Record a validated applicant; a partner's applicants stay visible to that partner only.

    The record is sealed under a data key of the applicant's own (wrapped under the active
    master key), so erasing the applicant is destroying that key."""
    actor.require(Perm.APPLY)
    if actor.role is Role.BORROWER:
        raise AccessDenied("a borrower key belongs to an existing applicant; "
                           "new applicants are registered by a partner or staff")
    _check_established(applicant, business_date(p.clock))
    ring = keyring_of(session)
    applicant_id, key = new_id("AP"), new_data_key()
    row = repo.add_applicant(
        session, applicant_id=applicant_id, kind=applicant.kind.value,
        business_name=applicant.business_name,
        partner_id=actor.subject if actor.role is Role.PARTNER else None,
        data=seal(key, _json(applicant.to_dict()), context("applicants", applicant_id)),
        data_key=ring.wrap(key, applicant_id), created_at=p.clock.now(),
        erased_at=None, **lookup_hashes(ring, applicant))
    return applicant_view(row)


#: The earliest establishment date a registration may state.
EARLIEST_ESTABLISHED = date(1900, 1, 1)


def _check_established(applicant: Applicant, today: date) -> None:
    """A business is established on a day that has come, and not before 1900: the date sets
    its age, which the policy's BUSINESS_TOO_YOUNG rule reads."""
    established = applicant.established_on
    if established is not None and not EARLIEST_ESTABLISHED <= established <= today:
        raise InvalidApplication(f"established_on {established} must be from "
                                 f"{EARLIEST_ESTABLISHED} to today ({today})")


def _opened(ring: Keyring, applicant_id: str, data_key: str | None, data: str) -> str:
    if is_sealed(data):
        if data_key is None:
            raise PersonalDataErased(f"the personal data of applicant {applicant_id} was erased")
        data = open_sealed(ring.unwrap(data_key, applicant_id), data,
                           context("applicants", applicant_id))
    return data


@lru_cache(maxsize=4096)
def _parse_applicant(ring: Keyring, applicant_id: str, data_key: str | None,
                     data: str) -> Applicant:
    """A stored applicant text is opened, validated and parsed once (rows change only by
    rotation or erasure, which store new text)."""
    return Applicant.from_dict(json.loads(_opened(ring, applicant_id, data_key, data)))


def owner_mobile(bind: Session | Connection, row: Any) -> str:
    """The owner's registered mobile of a stored applicant row.  Why not `applicant_data`: a
    notice needs this one field, and validating the whole record again (the resident ID's
    region table, every number) costs a millisecond per borrower told; the record was
    validated when it was stored, and a sealed one cannot have changed since."""
    if row.erased_at is not None:
        raise PersonalDataErased(f"the personal data of applicant {row.applicant_id} was erased")
    record = json.loads(_opened(keyring_of(bind), row.applicant_id, row.data_key, row.data))
    owner = record.get("owner") if isinstance(record, dict) else None
    found = owner.get("mobile") if isinstance(owner, dict) else None
    if not isinstance(found, str):  # not the record we stored: the full check says why
        return applicant_data(bind, row).owner.mobile
    return found




def applicant_data(bind: Session | Connection, row: Any) -> Applicant:
    """The applicant record of a stored applicant row, opened."""
    if row.erased_at is not None:
        raise PersonalDataErased(f"the personal data of applicant {row.applicant_id} was erased")
    return _parse_applicant(keyring_of(bind), row.applicant_id, row.data_key, row.data)


def applicant_row(session: Session, actor: Principal, applicant_id: str) -> Any:
    """The applicant's row if `actor` may see it (NotFound otherwise); nothing is opened."""
    row = repo.read(session, applicant_id)
    if row is None:
        raise NotFound(f"no applicant {applicant_id!r}")
    actor.check_applicant(row.applicant_id, row.partner_id)
    return row


def load_applicant(session: Session, actor: Principal, applicant_id: str) -> tuple[Any, Applicant]:
    row = applicant_row(session, actor, applicant_id)
    return row, applicant_data(session, row)


def business_identity(session: Session, applicant_id: str) -> str:
    """How a data provider knows the applicant's business: its unified social credit code, or,
    for a 个体工商户 registered without one, the keyed look-up hash of its owner's resident ID.

    Why not the applicant id: that is the lender's own number, and one business registered
    twice (through two partners, or again after a decline) gets two of them; a provider's
    records belong to the business, so both registrations must get the same answer.
    """
    row = repo.read(session, applicant_id)
    if row is None:
        raise NotFound(f"no applicant {applicant_id!r}")
    return identity_of(session, row)


def identity_of(bind: Session | Connection, row: Any) -> str:
    """`business_identity` of an applicant row already read (applicant_id, data, data_key,
    owner_id_hash, erased_at), for readers of many applicants at once."""
    applicant = applicant_data(bind, row)
    if applicant.uscc:
        return applicant.uscc
    # A resident ID must not reach a stored payload in clear: the keyed look-up hash names the
    # same person in every registration without revealing the number.
    return row.owner_id_hash or keyring_of(bind).lookup_hash("resident_id",
                                                             applicant.owner.resident_id)


def get_applicant(session: Session, actor: Principal, applicant_id: str) -> dict:
    actor.require(Perm.READ)
    return applicant_view(applicant_row(session, actor, applicant_id), session)


def list_applicants(session: Session, actor: Principal, after: str | None, limit: int) -> list[dict]:
    actor.require(Perm.READ)
    return [applicant_view(r, session)
            for r in repo.page(session, after, limit, actor.visibility)]


def masked_person(person: dict) -> dict:
    """A person as every view shows one: the name, the resident ID and mobile masked."""
    out = {"name": person.get("name"), "resident_id": mask(person.get("resident_id", ""))}
    if "mobile" in person:
        out["mobile"] = mask(person.get("mobile", ""), 3, 4)
    return out


def applicant_view(row: Any, bind: Session | Connection | None = None) -> dict:
    """What the API shows: identity numbers masked (the full numbers stay in the sealed
    record); an erased applicant shows what is kept and when it was erased."""
    out = {"applicant_id": row.applicant_id, "kind": row.kind,
           "business_name": row.business_name, "partner_id": row.partner_id,
           "created_at": row.created_at.isoformat(),
           "erased_at": row.erased_at.isoformat() if row.erased_at else None}
    if row.erased_at is not None:
        return out
    if bind is None:
        bind = repo.session_of(row)
    data = applicant_data(bind, row).to_dict()
    return {**out, "uscc": data.get("uscc"), "industry": data.get("industry", ""),
            "region_code": data.get("region_code", ""),
            "established_on": data.get("established_on"),
            "monthly_revenue": data.get("monthly_revenue", 0),
            "owner": masked_person(data.get("owner", {})),
            "guarantors": [{"name": g.get("name"), "resident_id": mask(g.get("resident_id", ""))}
                           for g in data.get("guarantors", [])]}


# -- identity checks ------------------------------------------------------------------------------
def save_checks(session: Session, applicant_id: str, application_id: str | None,
                checks: Iterable[IdentityCheck]) -> None:
    rows = [{"applicant_id": applicant_id, "application_id": application_id, "kind": c.kind.value,
             "subject": c.subject, "passed": c.passed, "reason": c.reason, "source": c.source,
             "details": _json(c.details), "checked_at": c.checked_at} for c in checks]
    if rows:
        repo.insert_checks(session, rows)


def checks_of(session: Session, actor: Principal, applicant_id: str) -> list[dict]:
    actor.require(Perm.READ)
    applicant_row(session, actor, applicant_id)
    rows = repo.checks(session, applicant_id)
    return [{"kind": r.kind, "subject": r.subject, "passed": r.passed, "reason": r.reason,
             "source": r.source, "details": json.loads(r.details),
             "application_id": r.application_id, "checked_at": r.checked_at.isoformat()}
            for r in rows]


# -- bank accounts --------------------------------------------------------------------------------
def bind_account(p: Platform, session: Session, actor: Principal, applicant_id: str,
                 account: BankAccount) -> dict:
    """Bind a repayment account after checking the card and that it is in the borrower's name.

    A failed check is kept as evidence (`keep_on_failure`) and reported as InvalidIdentity.
    """
    actor.require(Perm.APPLY)
    _, applicant = load_applicant(session, actor, applicant_id)
    use_data(p, session, applicant_id, DataScope.BANK_ACCOUNT, Purpose.CREDIT_ASSESSMENT, None)
    check = check_account_binding(applicant, account, checked_at=p.clock.now())
    if not check.passed:
        keep_on_failure(session, lambda evidence: save_checks(evidence, applicant_id, None, [check]))
        raise InvalidIdentity(f"bank account not bound: {check.reason}")
    save_checks(session, applicant_id, None, [check])
    account_id = new_id("BA")
    row = repo.add_account(session, account_id=account_id, applicant_id=applicant_id,
                           data=sealed(session, applicant_id, _json(account.to_dict()),
                                       context("bank_accounts", account_id)),
                           card_masked=mask(account.card_number), bound_at=p.clock.now(),
                           card_hash=keyring_of(session).lookup_hash("bank_card",
                                                                     account.card_number))
    return account_view(row, account)


def account_view(row: Any, account: BankAccount | None = None) -> dict:
    if account is None and row.data:
        try:
            account = BankAccount.from_dict(json.loads(unsealed(
                repo.session_of(row), row.applicant_id, row.data,
                context("bank_accounts", row.account_id))))
        except PersonalDataErased:
            account = None
    return {"account_id": row.account_id, "applicant_id": row.applicant_id,
            "card": row.card_masked,
            "holder_name": account.holder_name if account else None,
            "bank_name": account.bank_name if account else "",
            "bound_at": row.bound_at.isoformat()}


def load_account(session: Session, applicant_id: str, account_id: str) -> BankAccount:
    row = repo.account(session, account_id)
    if row is None or row.applicant_id != applicant_id:
        raise NotFound(f"no bank account {account_id!r} bound to applicant {applicant_id!r}")
    return BankAccount.from_dict(json.loads(unsealed(session, applicant_id, row.data,
                                                     context("bank_accounts", account_id))))


def accounts_of(session: Session, actor: Principal, applicant_id: str) -> list[dict]:
    actor.require(Perm.READ)
    applicant_row(session, actor, applicant_id)
    return [account_view(r) for r in repo.accounts(session, applicant_id)]


# -- consent --------------------------------------------------------------------------------------
def grant_consent(p: Platform, session: Session, actor: Principal, applicant_id: str,
                  purpose: Purpose | str, scopes: Iterable[DataScope | str],
                  valid_for: timedelta | None = None, channel: str = "api",
                  text_version: str = "v1") -> dict:
    actor.require(Perm.APPLY)
    load_applicant(session, actor, applicant_id)
    now = p.clock.now()
    consent = grant(new_id("CS"), applicant_id, purpose, scopes, now,
                    valid_for or p.consent_validity, channel, text_version)
    repo.add_consent(session, consent_id=consent.consent_id, applicant_id=applicant_id,
                     data=_json(consent.to_dict()), granted_at=consent.granted_at,
                     expires_at=consent.expires_at, revoked_at=None)
    _log(session, applicant_id, consent.consent_id, "granted", None, consent.purpose.value, None,
         {"scopes": sorted(s.value for s in consent.scopes), "channel": channel,
          "text_version": text_version, "by": actor.key_id}, now)
    session.flush()
    return consent_view(consent, now)


def revoke_consent(p: Platform, session: Session, actor: Principal, applicant_id: str,
                   consent_id: str) -> dict:
    """Withdraw a consent: from now on no data source it covered may be queried."""
    actor.require(Perm.APPLY)
    load_applicant(session, actor, applicant_id)
    row = repo.consent(session, consent_id, lock=True)
    if row is None or row.applicant_id != applicant_id:
        raise NotFound(f"no consent {consent_id!r} for applicant {applicant_id!r}")
    now = p.clock.now()
    consent = Consent.from_dict(json.loads(row.data))
    if row.revoked_at is not None:
        consent = consent.revoke(row.revoked_at)
    revoked = consent.revoke(now)  # raises ConsentRevoked when already revoked
    repo.record_revocation(row, _json(revoked.to_dict()), now)
    _log(session, applicant_id, consent_id, "revoked", None, consent.purpose.value, None,
         {"by": actor.key_id}, now)
    session.flush()
    return consent_view(revoked, now)


def consents(session: Session | Connection, applicant_id: str) -> list[Consent]:
    return [_parse_consent(row.data) for row in repo.consent_texts(session, applicant_id)]


@lru_cache(maxsize=4096)
def _parse_consent(data: str) -> Consent:
    """Each stored text is parsed once (a revocation stores new text, parsed anew)."""
    return Consent.from_dict(json.loads(data))


def consents_of(p: Platform, session: Session, actor: Principal, applicant_id: str) -> list[dict]:
    actor.require(Perm.READ)
    applicant_row(session, actor, applicant_id)
    now = p.clock.now()
    return [consent_view(c, now) for c in consents(session, applicant_id)]


def consent_log(session: Session, actor: Principal, applicant_id: str) -> list[dict]:
    actor.require(Perm.READ)
    applicant_row(session, actor, applicant_id)
    rows = repo.log_entries(session, applicant_id)
    return [{"action": r.action, "consent_id": r.consent_id, "scope": r.scope, "purpose": r.purpose,
             "application_id": r.application_id, "detail": json.loads(r.detail),
             "at": r.at.isoformat()} for r in rows]


def consent_view(consent: Consent, now: datetime) -> dict:
    return {**consent.to_dict(), "status": consent.status(now)}


def use_data(p: Platform, session: Session, applicant_id: str, scope: DataScope, purpose: Purpose,
             application_id: str | None) -> Consent:
    """Gate every query of a data source: the covering consent, logged as used, or an error.

    A refusal is logged by `keep_on_failure`, so it survives the caller's rollback.
    """
    return use_data_for(p, session, applicant_id, [scope], purpose, application_id)[scope]


def use_data_for(p: Platform, session: Session, applicant_id: str, scopes: Iterable[DataScope],
                 purpose: Purpose, application_id: str | None) -> dict[DataScope, Consent]:
    """`use_data` for several scopes at once, in order: each scope's covering consent, logged as
    used, or the error of the first scope without one (its refusal logged as `use_data` logs
    it).  The applicant's consents are read once, and checked again once at commit for every
    scope (in a planned unit, under the write lock: one read there, not one per scope)."""
    now = p.clock.now()
    held = consents(session, applicant_id)
    out: dict[DataScope, Consent] = {}
    for scope in scopes:
        try:
            consent = require_consent(held, applicant_id, scope, purpose, now)
        except ConsentError as exc:
            detail = {"reason": str(exc), "error": type(exc).__name__}
            keep_on_failure(session, lambda evidence, scope=scope: _log(
                evidence, applicant_id, None, "refused", scope.value, purpose.value,
                application_id, detail, now))
            raise
        _log(session, applicant_id, consent.consent_id, "used", scope.value, purpose.value,
             application_id, {}, now)
        out[scope] = consent
    wanted = list(out)

    def still_in_force(writer: Session | Connection) -> None:  # revoked or lapsed since it was read?
        current, at = consents(writer, applicant_id), p.clock.now()
        for scope in wanted:
            require_consent(current, applicant_id, scope, purpose, at)

    check_at_commit(session, still_in_force)
    return out


def _log(session: Session, applicant_id: str, consent_id: str | None, action: str,
         scope: str | None, purpose: str | None, application_id: str | None, detail: dict,
         at: datetime) -> None:
    repo.log(session, {
        "applicant_id": applicant_id, "consent_id": consent_id, "action": action, "scope": scope,
        "purpose": purpose, "application_id": application_id, "detail": _json(detail), "at": at})
