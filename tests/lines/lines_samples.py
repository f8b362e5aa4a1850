"""Helpers the credit line tests share: a signed contract through the services, and a line."""

from __future__ import annotations

import random
from datetime import date

from puhui.parties.synthetic import account_for, small_business
from puhui.services import applicants, applications
from puhui.services import lines as svc
from puhui.services.access import SYSTEM
from puhui.services.platform import Platform

#: The business date the line tests start on.
START = date(2026, 3, 2)


def signed_contract(p: Platform, product: str = "SME-RV-180", amount: int = 10_000_000,
                    seed: int = 7) -> str:
    """A contract signed for an approved application of `product`: its id."""
    rng = random.Random(seed)
    applicant = small_business(rng, START, monthly_revenue=8_000_000)
    with p.unit() as s:
        applicant_id = applicants.register_applicant(p, s, SYSTEM, applicant)["applicant_id"]
        applicants.grant_consent(p, s, SYSTEM, applicant_id, "credit_assessment",
                                 ["identity", "bank_account"])
        account_id = applicants.bind_account(p, s, SYSTEM, applicant_id,
                                             account_for(rng, applicant))["account_id"]
        row = applications.apply(p, s, SYSTEM, applicant_id, product, amount)
        assert row.status == "offered", row.decision
        contract = applications.accept_offer(p, s, SYSTEM, row.application_id, account_id)
        applications.sign_contract(p, s, SYSTEM, contract["contract_id"],
                                   contract["content_hash"])
    return contract["contract_id"]


def granted_line(p: Platform, product: str = "SME-RV-180", amount: int = 10_000_000,
                 seed: int = 7) -> dict:
    contract_id = signed_contract(p, product, amount, seed)
    with p.unit() as s:
        return svc.grant(p, s, SYSTEM, contract_id, key=f"grant:{contract_id}")
