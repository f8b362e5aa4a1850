"""The data subject's rights and the platform's duties over personal data (PIPL).

- Full reads.  Every view masks resident IDs, mobiles and card numbers.  The full contract text
  is for staff whose key carries the explicit `read_personal` scope (admins and credit officers
  issued with it), given a reason; each full read is written to `personal_data_access`.
- Export (PIPL art. 45).  Everything held on an applicant, as JSON, for the person (their
  borrower key) or an admin; logged.
- Erasure (PIPL art. 47).  The applicant's data key is destroyed, so every sealed copy of their
  personal data (applicant record, cards, contract text, payees), in every table, the WAL and
  backups, is unreadable; readable personal fields (business name, masked card) are
  overwritten.  Kept: amounts, dates, statuses, ids, content hashes, the ledger, keyed hashes
  (HMAC references that cannot be reversed without the key) and the masked KYC evidence the
  anti-money-laundering rules require.  Refused while a contract is in force (accepted, signed,
  or paid out with the loan not closed): the contract and the rules on loan files require the
  data until it ends.
- Minimisation before consent.  A registration with no consent granted within the retention
  (`PUHUI_UNCONSENTED_RETENTION_DAYS`, default 30) is erased by every end-of-day close
  (`purge_unconsented_on_close`, called by `services.business_day.close_day`), or on demand by
  `purge_unconsented`.
- Key rotation.  `rotate_keys` makes a new master key active and re-wraps every data key under
  it; rows written before encryption are sealed on the way.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from puhui.errors import InvalidApplication, InvalidEvent
from puhui.loans.state import LoanStatus
from puhui.origination.workflow import ApplicationStatus as S
from puhui.services import applications as apps
from puhui.services.access import Perm, Principal, Role
from puhui.services.applicants import (
    _json,
    accounts_of,
    applicant_data,
    applicant_key,
    applicant_row,
    checks_of,
    consent_log,
    consents_of,
    lookup_hashes,
    unsealed,
)
from puhui.services.clock import BUSINESS_ZONE
from puhui.services.errors import AccessDenied, NotFound
from puhui.services.platform import Platform, keep_on_failure
from puhui.store.crypto import (
    Keyring,
    context,
    describe,
    is_sealed,
    keyring_for,
    new_data_key,
    save_keyring,
    seal,
)
from puhui.store import privacy_repo as repo
from puhui.store.db import transaction

#: How long a registration may wait for its first consent before its personal data is erased.
UNCONSENTED_RETENTION = timedelta(days=30)
#: Statuses in which the contract (or the offer being accepted) needs the borrower's data.
IN_FORCE = (S.ACCEPTED.value, S.CONTRACT_SIGNED.value)
ERASED_NAME = "[erased]"


def _reason(reason: str | None, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise InvalidApplication("a reason (1-500 characters) is required to read personal data "
                                 "in full")
    if len(reason) > 500:
        raise InvalidApplication("the reason must be at most 500 characters")
    return reason


def log_access(session: Session, actor: Principal, applicant_id: str, action: str,
               object_type: str, object_id: str, reason: str, at: datetime) -> None:
    repo.log_access(session, applicant_id=applicant_id, action=action, object_type=object_type,
                    object_id=object_id, actor=actor.key_id, role=actor.role.value,
                    reason=reason, at=at)


def access_log(session: Session, actor: Principal, applicant_id: str) -> list[dict]:
    """Who read, exported or erased this applicant's personal data, when and why."""
    actor.require(Perm.READ)
    applicant_row(session, actor, applicant_id)
    rows = repo.access_entries(session, applicant_id)
    return [{"action": r.action, "object_type": r.object_type, "object_id": r.object_id,
             "actor": r.actor, "role": r.role, "reason": r.reason, "at": r.at.isoformat()}
            for r in rows]


# -- full reads -----------------------------------------------------------------------------------
def full_contract(p: Platform, session: Session, actor: Principal, contract_id: str,
                  reason: str) -> dict:
    """The contract as signed, personal numbers in full, for an entitled staff key; logged."""
    actor.require(Perm.READ)
    contract, application = apps.load_contract(session, actor, contract_id)  # scoped: 404
    actor.require(Perm.READ_PERSONAL)
    if actor.role not in (Role.ADMIN, Role.CREDIT_OFFICER):
        raise AccessDenied("only staff read full personal data")
    reason = _reason(reason, True)
    content = apps.contract_content(session, contract, application.applicant_id)
    log_access(session, actor, application.applicant_id, "full_read", "contract", contract_id,
               reason, p.clock.now())
    return apps.contract_view(contract, application.applicant_id, content, full=True)


def verify_contract_hash(session: Session, actor: Principal, contract_id: str) -> dict:
    """Whether the stored full content still hashes to the attested hash (reveals nothing)."""
    from puhui.origination.offer import contract_hash
    from puhui.store.ledger_repo import LedgerRepository

    actor.require(Perm.READ)
    contract, application = apps.load_contract(session, actor, contract_id)
    content = apps.contract_content(session, contract, application.applicant_id)
    entry = LedgerRepository(session).attestation("loan_contract", contract_id)
    return {"contract_id": contract_id, "content_hash": contract.content_hash,
            "content_matches": contract_hash(content) == contract.content_hash,
            "attested": entry is not None and entry.attests.sha256 == contract.content_hash}


# -- the data subject's rights ------------------------------------------------------------------
def _subject_or_admin(actor: Principal, applicant_id: str) -> None:
    """The person themself (their borrower key) or an admin; no one else."""
    if actor.role is Role.ADMIN:
        return
    if actor.role is Role.BORROWER and actor.subject == applicant_id:
        return
    raise AccessDenied("only the data subject (their borrower key) or an admin may export or "
                       "erase an applicant's personal data")


def export(p: Platform, session: Session, actor: Principal, applicant_id: str,
           reason: str = "") -> dict:
    """Everything held on the applicant, personal data in full, as JSON; logged."""
    _subject_or_admin(actor, applicant_id)
    reason = _reason(reason, False) or "data subject access request"
    row = applicant_row(session, actor, applicant_id)
    erased = row.erased_at is not None
    out: dict[str, Any] = {
        "applicant_id": applicant_id, "exported_at": p.clock.now().isoformat(),
        "erased_at": row.erased_at.isoformat() if erased else None,
        "applicant": None if erased else {
            **applicant_data(session, row).to_dict(), "applicant_id": applicant_id,
            "partner_id": row.partner_id, "created_at": row.created_at.isoformat()},
        "bank_accounts": [], "consents": consents_of(p, session, actor, applicant_id),
        "consent_log": consent_log(session, actor, applicant_id),
        "identity_checks": checks_of(session, actor, applicant_id),
        "applications": [], "contracts": [], "disbursements": []}
    if not erased:
        for account in repo.accounts(session, applicant_id):
            out["bank_accounts"].append({
                "account_id": account.account_id, "bound_at": account.bound_at.isoformat(),
                **json.loads(unsealed(session, applicant_id, account.data,
                                      context("bank_accounts", account.account_id)))})
    else:
        out["bank_accounts"] = accounts_of(session, actor, applicant_id)
    for application in repo.applications(session, applicant_id):
        out["applications"].append({
            **apps.application_view(session, application),
            "history": apps.history(session, actor, application.application_id)})
        if application.contract_id:
            contract = repo.contract(session, application.contract_id)
            out["contracts"].append(apps.contract_view(contract, applicant_id, full=True))
            payout = repo.disbursement_for(session, contract.contract_id)
            if payout is not None:
                from puhui.services.loans import disbursement_view, payee_of
                name, account = payee_of(session, applicant_id, payout) if not erased \
                    else (ERASED_NAME, "")
                view = disbursement_view(payout, name, account)
                if not erased:
                    view["payee_account"] = account
                out["disbursements"].append(view)
    from puhui.services.notifications import contacts_of, notifications_of

    out["notifications"] = notifications_of(session, applicant_id)
    out["notification_contacts"] = [] if erased else contacts_of(session, applicant_id)
    out["access_log"] = access_log(session, actor, applicant_id)
    log_access(session, actor, applicant_id, "export", "applicant", applicant_id, reason,
               p.clock.now())
    return out


def erasure_blockers(p: Platform, session: Session, applicant_id: str) -> list[str]:
    """Why the applicant's personal data must still be kept (empty: it may be erased)."""
    blockers = []
    for application_id, status, loan_id in repo.application_states(session, applicant_id):
        if status in IN_FORCE:
            blockers.append(f"application {application_id} has a contract in force ({status})")
        elif loan_id is not None and p.book.load_in(session, loan_id).status is LoanStatus.ACTIVE:
            blockers.append(f"loan {loan_id} (application {application_id}) is not closed")
    return blockers


def erase(p: Platform, session: Session, actor: Principal, applicant_id: str,
          reason: str) -> dict:
    """Erase the applicant's personal data (PIPL art. 47): destroy the data key, overwrite what
    is readable, keep what the ledger and the law require.  Refused (`ErasureRefused`, logged)
    while a contract needs the data."""
    _subject_or_admin(actor, applicant_id)
    reason = _reason(reason, False) or "data subject erasure request"
    row = repo.applicant(session, applicant_id, lock=True)
    if row is None:
        raise NotFound(f"no applicant {applicant_id!r}")
    actor.check_applicant(row.applicant_id, row.partner_id)
    now = p.clock.now()
    if row.erased_at is not None:
        return {"applicant_id": applicant_id, "erased_at": row.erased_at.isoformat(),
                "already_erased": True}
    blockers = erasure_blockers(p, session, applicant_id)
    if blockers:
        keep_on_failure(session, lambda evidence: log_access(
            evidence, actor, applicant_id, "erasure_refused", "applicant", applicant_id,
            f"{reason}; refused: {'; '.join(blockers)}", now))
        raise ErasureRefused("the personal data is still required: " + "; ".join(blockers) +
                             ". It can be erased once the contract has ended and no loan is open "
                             "(PIPL art. 47(1)4 and the loan-file retention rules).")
    _destroy(session, row, now)
    log_access(session, actor, applicant_id, "erasure", "applicant", applicant_id, reason, now)
    session.flush()
    return {"applicant_id": applicant_id, "erased_at": now.isoformat(), "already_erased": False,
            "kept": ["application amounts, dates and statuses", "offers and contract hashes",
                     "the ledger", "keyed hashes of the identity numbers",
                     "masked identity-check evidence", "consent and access logs"]}


def _destroy(session: Session, row: Any, now: datetime) -> None:
    applicant_id = row.applicant_id
    repo.overwrite_applicant(row, _json({"erased": True}), ERASED_NAME, now)
    repo.blank_accounts(session, applicant_id)
    # Stored answers to retried POSTs show (masked) views of the applicant: drop them.  The
    # answers to accepting, signing and paying out name only the application or contract, yet
    # show the owner's name, masked numbers and the payee, so those ids count as well; the
    # answers about the loan's money (repayments, refunds) name the loan and show no one.
    repo.forget_answers(session, repo.references(session, applicant_id))
    # Contracts, payees: sealed under the destroyed key, so unreadable wherever a copy is.
    # A contract written before encryption holds plain text: overwrite it too.
    for contract in repo.contracts(session, applicant_id):
        if not is_sealed(contract.content):
            repo.replace_content(contract, _json({"erased": True}))


class ErasureRefused(InvalidEvent):
    """The personal data may not be erased yet (a contract in force needs it)."""


def purge_unconsented(p: Platform, session: Session, actor: Principal,
                      older_than: timedelta = UNCONSENTED_RETENTION) -> list[str]:
    """Erase every registration that never received a consent within `older_than` (measured
    from now on the clock: the manual `puhui privacy purge-unconsented`)."""
    actor.require(Perm.OPERATE)
    return _purge(p, session, actor, p.clock.now() - older_than, True, older_than.days)


def purge_unconsented_on_close(p: Platform, session: Session, actor: Principal,
                               business_day: date, retention_days: int) -> list[str]:
    """Erase, as part of closing `business_day`, every registration with no consent that was
    registered on a business date more than `retention_days` before it.

    Measured in business dates (Asia/Shanghai), against the day being closed rather than the
    wall clock, so a late or repeated close erases exactly what the daily one would have: a
    registration of day D is kept by the close of D + retention (the boundary is inclusive on
    the keeping side) and erased by the close of D + retention + 1.  Erased rows are not
    selected again, so re-running the close erases nothing more."""
    actor.require(Perm.OPERATE)
    first_kept = business_day - timedelta(days=retention_days)
    cutoff = datetime.combine(first_kept, time.min, BUSINESS_ZONE).astimezone(timezone.utc)
    return _purge(p, session, actor, cutoff, False, retention_days)


def _purge(p: Platform, session: Session, actor: Principal, registered_before: datetime,
           inclusive: bool, days: int) -> list[str]:
    """Erase the unerased registrations made before `registered_before` (at or before it when
    `inclusive`) that have no consent (granted ever, even if since revoked or expired), each
    logged as an erasure."""
    now = p.clock.now()
    ids = repo.unconsented(session, registered_before, inclusive)
    for applicant_id in ids:
        row = repo.applicant(session, applicant_id, lock=True)
        _destroy(session, row, now)
        log_access(session, actor, applicant_id, "erasure", "applicant", applicant_id,
                   f"no consent within {days} days of registration", now)
    session.flush()
    return list(ids)


# -- key rotation ---------------------------------------------------------------------------------
def rotate_keys(engine: Engine, new_master: bool = True) -> dict:
    """Make a new master key active (`new_master`) and re-wrap every data key under it; rows
    from before encryption get a data key and are sealed.  Old master keys stay in the ring."""
    ring = keyring_for(engine.url)
    if new_master:
        ring = ring.with_new_active()
        save_keyring(engine.url, ring)
    counts = {"rewrapped": 0, "sealed_applicants": 0}
    with transaction(engine) as session:
        for row in repo.unerased_applicants(session):
            if row.data_key is not None:
                if Keyring.key_id(row.data_key) != ring.active:
                    repo.replace_data_key(row, ring.rewrap(row.data_key, row.applicant_id))
                    counts["rewrapped"] += 1
                continue
            _seal_legacy(session, ring, row)
            counts["sealed_applicants"] += 1
    return {**counts, **describe(ring)}


def _seal_legacy(session: Session, ring: Keyring, row: Any) -> None:
    """Give a pre-encryption applicant a data key and seal its mutable rows (an append-only
    payee stays as written)."""
    key = new_data_key()
    applicant = applicant_data(session, row)
    repo.seal_applicant(row, seal(key, row.data, context("applicants", row.applicant_id)),
                        ring.wrap(key, row.applicant_id), lookup_hashes(ring, applicant))
    for account in repo.unordered_accounts(session, row.applicant_id):
        if account.data and not is_sealed(account.data):
            card = json.loads(account.data)["card_number"]
            repo.seal_account(account, seal(key, account.data,
                                            context("bank_accounts", account.account_id)),
                              ring.lookup_hash("bank_card", card))
    for contract in repo.contracts(session, row.applicant_id):
        if not is_sealed(contract.content):
            repo.replace_content(contract, seal(key, contract.content,
                                                context("contracts", contract.contract_id)))


def find_by_resident_id(session: Session, actor: Principal, resident_id: str) -> list[str]:
    """Ids of the applicants (visible to `actor`) whose owner has this resident ID, found by
    keyed hash: the duplicate check that needs no plaintext column."""
    from puhui.parties.identity import normalise_resident_id
    from puhui.store.crypto import keyring_of

    actor.require(Perm.READ)
    digest = keyring_of(session).lookup_hash("resident_id", normalise_resident_id(resident_id))
    return repo.by_owner_hash(session, digest, actor.visibility)


__all__ = ["access_log", "erase", "export", "full_contract", "purge_unconsented",
           "purge_unconsented_on_close",
           "rotate_keys", "verify_contract_hash", "find_by_resident_id", "ErasureRefused",
           "applicant_key"]
