"""Applicants, their consents, identity checks and bound bank accounts."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Query

from puhui.api import examples as ex
from puhui.api import responses as R
from puhui.api.calls import Call, call, read_call
from puhui.api.routes.common import Page, listing, operation
from puhui.api.schemas import ApplicantIn, BankAccountIn, ConsentIn, ErasureIn
from puhui.parties.applicant import Applicant, BankAccount
from puhui.services import applicants as svc
from puhui.services import privacy

router = APIRouter(prefix="/v1/applicants", tags=["applicants"])


@router.post("", **operation(
    "registerApplicant", R.Applicant, 403, status=201, post=True, example=ex.APPLICANT_OUT,
    summary="Register an applicant (identity numbers validated)"))
def register(body: ApplicantIn, c: Call = Depends(call)):
    applicant = Applicant.from_dict(body.model_dump(mode="json"))
    return c.write(lambda s: svc.register_applicant(c.platform, s, c.actor, applicant), 201)


@router.get("", **operation("listApplicants", R.ApplicantPage, 400, 403,
                            summary="List applicants visible to this key"))
def list_applicants(page: Page = Depends(), c: Call = Depends(read_call)):
    return listing(c, page, "applicant_id",
                   lambda s, after, limit: svc.list_applicants(s, c.actor, after, limit))


@router.get("/{applicant_id}", **operation("getApplicant", R.Applicant, 403, 404,
                                           summary="One applicant (identity numbers masked)"))
def get(applicant_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.get_applicant(s, c.actor, applicant_id))


@router.get("/{applicant_id}/identity-checks", **operation(
    "listIdentityChecks", R.IdentityCheckList, 403, 404,
    summary="Identity checks and their sources"))
def checks(applicant_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.checks_of(s, c.actor, applicant_id), "items")


@router.post("/{applicant_id}/consents", **operation(
    "grantConsent", R.Consent, 403, 404, 409, status=201, post=True, example=ex.CONSENT_OUT,
    summary="Record a PIPL consent (purpose, data scopes, validity)"))
def grant(applicant_id: str, body: ConsentIn, c: Call = Depends(call)):
    return c.write(lambda s: svc.grant_consent(
        c.platform, s, c.actor, applicant_id, body.purpose, body.scopes,
        timedelta(days=body.valid_days), body.channel, body.text_version), 201)


@router.get("/{applicant_id}/consents", **operation(
    "listConsents", R.ConsentList, 403, 404, summary="Consents and their status now"))
def consents(applicant_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.consents_of(c.platform, s, c.actor, applicant_id), "items")


@router.post("/{applicant_id}/consents/{consent_id}/revoke", **operation(
    "revokeConsent", R.Consent, 403, 404, 409, post=True, summary="Revoke a consent"))
def revoke(applicant_id: str, consent_id: str, c: Call = Depends(call)):
    return c.write(lambda s: svc.revoke_consent(c.platform, s, c.actor, applicant_id, consent_id))


@router.get("/{applicant_id}/consent-log", **operation(
    "getConsentLog", R.ConsentLog, 403, 404,
    summary="Every grant, revocation, use and refused use of the applicant's data"))
def consent_log(applicant_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.consent_log(s, c.actor, applicant_id), "items")


@router.post("/{applicant_id}/bank-accounts", **operation(
    "bindBankAccount", R.BankAccount, 403, 404, 409, status=201, post=True,
    example=ex.BANK_ACCOUNT_OUT, summary="Bind a bank card in the borrower's name"))
def bind(applicant_id: str, body: BankAccountIn, c: Call = Depends(call)):
    account = BankAccount(body.card_number, body.holder_name, body.bank_name)
    return c.write(lambda s: svc.bind_account(c.platform, s, c.actor, applicant_id, account), 201)


@router.get("/{applicant_id}/bank-accounts", **operation(
    "listBankAccounts", R.BankAccountList, 403, 404, summary="Bound bank accounts"))
def accounts(applicant_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.accounts_of(s, c.actor, applicant_id), "items")


@router.get("/{applicant_id}/export", **operation(
    "exportApplicant", R.ApplicantExport, 403, 404,
    summary="Everything held on the applicant, in full (the person or an admin; logged)"))
def export(applicant_id: str, reason: str = Query("", max_length=500),
           c: Call = Depends(read_call)):
    return c.write(lambda s: privacy.export(c.platform, s, c.actor, applicant_id, reason))


@router.post("/{applicant_id}/erasure", **operation(
    "eraseApplicant", R.Erasure, 403, 404, 409, post=True,
    summary="Erase the applicant's personal data (the person or an admin; logged)",
    description="Refused (409) while a contract is in force or a loan is open. Erasing again "
                "answers `already_erased: true`."))
def erase(applicant_id: str, body: ErasureIn, c: Call = Depends(call)):
    return c.write(lambda s: privacy.erase(c.platform, s, c.actor, applicant_id, body.reason))


@router.get("/{applicant_id}/access-log", **operation(
    "getAccessLog", R.AccessLog, 403, 404,
    summary="Every full read, export and erasure of the applicant's personal data"))
def access_log(applicant_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: privacy.access_log(s, c.actor, applicant_id), "items")
