"""Applicants, their identity checks, bound bank accounts and PIPL consents.

Consent comes first: no personal data source is queried for an applicant unless a consent
covering that data scope and purpose is in force at that moment, and every grant, revocation,
use and refused use is written to the append-only consent log a regulator can read.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Iterable

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.orm import Session

from puhui.errors import ConsentError, InvalidIdentity
from puhui.json_text import dumps
from puhui.origination.consent import Consent, DataScope, Purpose, grant, require_consent
from puhui.origination.identity import IdentityCheck, mask
from puhui.origination.parties import Applicant, BankAccount, check_account_binding
from puhui.services.access import Perm, Principal, Role, scoped
from puhui.services.errors import AccessDenied, NotFound
from puhui.services.ids import new_id
from puhui.services.planned import check_at_commit
from puhui.services.platform import Platform, keep_on_failure
from puhui.store.platform_models import (
    ApplicantRow,
    BankAccountRow,
    ConsentLogRow,
    ConsentRow,
    IdentityCheckRow,
)
from puhui.store.prepared import PreparedStatement


def _json(value: Any) -> str:
    return dumps(value, sort_keys=True)


# -- applicants -----------------------------------------------------------------------------------
def register_applicant(p: Platform, session: Session, actor: Principal,
                       applicant: Applicant) -> dict:
    """Record a validated applicant; a partner's applicants stay visible to that partner only."""
    actor.require(Perm.APPLY)
    if actor.role is Role.BORROWER:
        raise AccessDenied("a borrower key belongs to an existing applicant; "
                           "new applicants are registered by a partner or staff")
    row = ApplicantRow(applicant_id=new_id("AP"), kind=applicant.kind.value,
                       business_name=applicant.business_name,
                       partner_id=actor.subject if actor.role is Role.PARTNER else None,
                       data=_json(applicant.to_dict()), created_at=p.clock.now())
    session.add(row)
    session.flush()
    return applicant_view(row)


_APPLICANTS = ApplicantRow.__table__
_CHECKS = IdentityCheckRow.__table__
_LOG = ConsentLogRow.__table__
_CONSENT_TABLE = ConsentRow.__table__
# Statements every application makes, prepared once (see puhui.store.prepared).
_GET_APPLICANT = PreparedStatement(
    select(_APPLICANTS).where(_APPLICANTS.c.applicant_id == bindparam("id")))
_CONSENTS = PreparedStatement(
    select(_CONSENT_TABLE.c.data).where(_CONSENT_TABLE.c.applicant_id == bindparam("id"))
    .order_by(_CONSENT_TABLE.c.consent_id))
_INSERT_LOG = PreparedStatement(insert(_LOG))
_INSERT_CHECKS = PreparedStatement(insert(_CHECKS))


@lru_cache(maxsize=4096)
def _parse_applicant(data: str) -> Applicant:
    """Applicant rows never change, so each stored text is validated and parsed once."""
    return Applicant.from_dict(json.loads(data))


def load_applicant(session: Session, actor: Principal, applicant_id: str) -> tuple[Any, Applicant]:
    row = _GET_APPLICANT.first(session, {"id": applicant_id})
    if row is None:
        raise NotFound(f"no applicant {applicant_id!r}")
    actor.check_applicant(row.applicant_id, row.partner_id)
    return row, _parse_applicant(row.data)


def business_identity(session: Session, applicant_id: str) -> str:
    """How a data provider knows the applicant's business: its unified social credit code, or,
    for a 个体工商户 registered without one, its owner's resident ID.

    Why not the applicant id: that is the lender's own number, and one business registered
    twice (through two partners, or again after a decline) gets two of them; a provider's
    records belong to the business, so both registrations must get the same answer.
    """
    row = _GET_APPLICANT.first(session, {"id": applicant_id})
    if row is None:
        raise NotFound(f"no applicant {applicant_id!r}")
    applicant = _parse_applicant(row.data)
    return applicant.uscc or applicant.owner.resident_id


def get_applicant(session: Session, actor: Principal, applicant_id: str) -> dict:
    actor.require(Perm.READ)
    row, _ = load_applicant(session, actor, applicant_id)
    return applicant_view(row)


def list_applicants(session: Session, actor: Principal, after: str | None, limit: int) -> list[dict]:
    actor.require(Perm.READ)
    query = select(ApplicantRow).order_by(ApplicantRow.applicant_id).limit(limit)
    if after:
        query = query.where(ApplicantRow.applicant_id > after)
    query = scoped(query, actor, ApplicantRow.partner_id, ApplicantRow.applicant_id)
    return [applicant_view(r) for r in session.execute(query).scalars()]


def applicant_view(row: ApplicantRow) -> dict:
    """What the API shows: identity numbers masked (the full numbers stay in the record)."""
    data = json.loads(row.data)
    owner = data.get("owner", {})
    return {
        "applicant_id": row.applicant_id, "kind": row.kind, "business_name": row.business_name,
        "partner_id": row.partner_id, "created_at": row.created_at.isoformat(),
        "uscc": data.get("uscc"), "industry": data.get("industry", ""),
        "region_code": data.get("region_code", ""), "established_on": data.get("established_on"),
        "monthly_revenue": data.get("monthly_revenue", 0),
        "owner": {"name": owner.get("name"), "resident_id": mask(owner.get("resident_id", "")),
                  "mobile": mask(owner.get("mobile", ""), 3, 4)},
        "guarantors": [{"name": g.get("name"), "resident_id": mask(g.get("resident_id", ""))}
                       for g in data.get("guarantors", [])],
    }


# -- identity checks ------------------------------------------------------------------------------
def save_checks(session: Session, applicant_id: str, application_id: str | None,
                checks: Iterable[IdentityCheck]) -> None:
    rows = [{"applicant_id": applicant_id, "application_id": application_id, "kind": c.kind.value,
             "subject": c.subject, "passed": c.passed, "reason": c.reason, "source": c.source,
             "details": _json(c.details), "checked_at": c.checked_at} for c in checks]
    if rows:
        _INSERT_CHECKS.execute(session, rows)


def checks_of(session: Session, actor: Principal, applicant_id: str) -> list[dict]:
    actor.require(Perm.READ)
    load_applicant(session, actor, applicant_id)
    rows = session.execute(select(IdentityCheckRow).where(IdentityCheckRow.applicant_id == applicant_id)
                           .order_by(IdentityCheckRow.id)).scalars()
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
    row = BankAccountRow(account_id=new_id("BA"), applicant_id=applicant_id,
                         data=_json(account.to_dict()), card_masked=mask(account.card_number),
                         bound_at=p.clock.now())
    session.add(row)
    session.flush()
    return account_view(row)


def account_view(row: BankAccountRow) -> dict:
    data = json.loads(row.data)
    return {"account_id": row.account_id, "applicant_id": row.applicant_id,
            "card": row.card_masked, "holder_name": data.get("holder_name"),
            "bank_name": data.get("bank_name", ""), "bound_at": row.bound_at.isoformat()}


def load_account(session: Session, applicant_id: str, account_id: str) -> BankAccount:
    row = session.get(BankAccountRow, account_id)
    if row is None or row.applicant_id != applicant_id:
        raise NotFound(f"no bank account {account_id!r} bound to applicant {applicant_id!r}")
    return BankAccount.from_dict(json.loads(row.data))


def accounts_of(session: Session, actor: Principal, applicant_id: str) -> list[dict]:
    actor.require(Perm.READ)
    load_applicant(session, actor, applicant_id)
    rows = session.execute(select(BankAccountRow).where(BankAccountRow.applicant_id == applicant_id)
                           .order_by(BankAccountRow.account_id)).scalars()
    return [account_view(r) for r in rows]


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
    session.add(ConsentRow(consent_id=consent.consent_id, applicant_id=applicant_id,
                           data=_json(consent.to_dict()), granted_at=consent.granted_at,
                           expires_at=consent.expires_at, revoked_at=None))
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
    row = session.get(ConsentRow, consent_id, with_for_update=True)
    if row is None or row.applicant_id != applicant_id:
        raise NotFound(f"no consent {consent_id!r} for applicant {applicant_id!r}")
    now = p.clock.now()
    consent = Consent.from_dict(json.loads(row.data))
    if row.revoked_at is not None:
        consent = consent.revoke(row.revoked_at)
    revoked = consent.revoke(now)  # raises ConsentRevoked when already revoked
    row.data, row.revoked_at = _json(revoked.to_dict()), now
    _log(session, applicant_id, consent_id, "revoked", None, consent.purpose.value, None,
         {"by": actor.key_id}, now)
    session.flush()
    return consent_view(revoked, now)


def consents(session: Session | Connection, applicant_id: str) -> list[Consent]:
    return [_parse_consent(row.data) for row in _CONSENTS.rows(session, {"id": applicant_id})]


@lru_cache(maxsize=4096)
def _parse_consent(data: str) -> Consent:
    """Each stored text is parsed once (a revocation stores new text, parsed anew)."""
    return Consent.from_dict(json.loads(data))


def consents_of(p: Platform, session: Session, actor: Principal, applicant_id: str) -> list[dict]:
    actor.require(Perm.READ)
    load_applicant(session, actor, applicant_id)
    now = p.clock.now()
    return [consent_view(c, now) for c in consents(session, applicant_id)]


def consent_log(session: Session, actor: Principal, applicant_id: str) -> list[dict]:
    actor.require(Perm.READ)
    load_applicant(session, actor, applicant_id)
    rows = session.execute(select(ConsentLogRow).where(ConsentLogRow.applicant_id == applicant_id)
                           .order_by(ConsentLogRow.id)).scalars()
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
    now = p.clock.now()
    try:
        consent = require_consent(consents(session, applicant_id), applicant_id, scope, purpose, now)
    except ConsentError as exc:
        detail = {"reason": str(exc), "error": type(exc).__name__}
        keep_on_failure(session, lambda evidence: _log(
            evidence, applicant_id, None, "refused", scope.value, purpose.value, application_id,
            detail, now))
        raise
    _log(session, applicant_id, consent.consent_id, "used", scope.value, purpose.value,
         application_id, {}, now)

    def still_in_force(writer: Session | Connection) -> None:  # revoked or lapsed since it was read?
        require_consent(consents(writer, applicant_id), applicant_id, scope, purpose,
                        p.clock.now())

    check_at_commit(session, still_in_force)
    return consent


def _log(session: Session, applicant_id: str, consent_id: str | None, action: str,
         scope: str | None, purpose: str | None, application_id: str | None, detail: dict,
         at: datetime) -> None:
    _INSERT_LOG.execute(session, {
        "applicant_id": applicant_id, "consent_id": consent_id, "action": action, "scope": scope,
        "purpose": purpose, "application_id": application_id, "detail": _json(detail), "at": at})
