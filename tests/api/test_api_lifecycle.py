"""A small business's loan end to end over HTTP, on SQLite and PostgreSQL: apply, verify,
decide, accept, sign, disburse, repay every instalment, close; the ledger verifies and balances
and the loan's schedule is the core's."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from puhui.demo import DEMO_PRODUCTS
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.loans.schedule import build_schedule
from puhui.services.clock import at_business_date


def test_apply_to_close_over_http(api) -> None:
    application = api.disbursed(amount=12_000_000)
    loan_id = application["disbursement"]["loan_id"]
    offer = application["offer"]

    r = api.get(f"/v1/applications/{application['application_id']}")
    assert r.json()["status"] == "disbursed" and r.json()["loan_id"] == loan_id
    statuses = [h["to"] for h in api.get(
        f"/v1/applications/{application['application_id']}/history").json()["items"]]
    assert statuses == ["draft", "submitted", "verifying", "decisioning", "offered", "accepted",
                        "contract_signed", "disbursed"]

    loan = api.get(f"/v1/loans/{loan_id}").json()
    product = LoanProduct.from_dict(offer["product"])
    core = build_schedule(product, offer["principal"], date.fromisoformat(
        application["disbursement"]["value_date"]))
    assert [(i["due_date"], i["principal"], i["interest"], i["fee"]) for i in loan["schedule"]] == \
        [(i.due.isoformat(), i.principal, i.interest, i.fee) for i in core.instalments]
    assert [(i["due_date"], i["principal"], i["interest"]) for i in offer["schedule"]] == \
        [(i.due.isoformat(), i.principal, i.interest) for i in core.instalments]
    assert sum(i["principal"] for i in loan["schedule"]) == 12_000_000

    for number, instalment in enumerate(loan["schedule"], start=1):
        api.clock.set(at_business_date(date.fromisoformat(instalment["due_date"])))
        due = api.get(f"/v1/loans/{loan_id}").json()["amount_due"]
        assert due == instalment["principal"] + instalment["interest"] + instalment["fee"]
        r = api.post(f"/v1/loans/{loan_id}/repayments", {"amount": due}, key=f"pay-{number}")
        assert r.status_code == 201, r.text

    loan = api.get(f"/v1/loans/{loan_id}").json()
    assert loan["status"] == "closed"
    assert all(v == 0 for v in loan["balances"].values())
    verified = api.get("/v1/ledger/verify", who="admin").json()
    assert verified["verified_entries"] == verified["journal"]["seq"] > 0
    # the disbursement and every repayment are links of the event chain, whose head is shown
    assert verified["verified_events"] == verified["events"]["seq"] >= 1 + len(loan["schedule"])
    assert len(verified["events"]["hash"]) == 64 and len(verified["book_id"]) == 32
    assert api.get("/v1/ledger/trial-balance", who="admin").json()["total"] == 0
    ledger = {code: v for (code, _), v in api.platform.book.sub_ledger(loan_id).items()}
    assert ledger.get("1301", 0) == ledger.get("1302", 0) == 0
    # the payout went once to the bound account, net of the upfront fee
    [payout] = api.gateway.paid_out("PAYOUT-")
    assert payout.amount == offer["principal"] - offer["upfront_fee"]


def test_offer_discloses_schedule_and_irr_cost(api) -> None:
    application = api.offered(amount=5_000_000)
    offer = application["offer"]
    assert offer["principal"] == 5_000_000
    assert Decimal(offer["apr"]) > Decimal(offer["product"]["annual_rate"])  # fees included
    assert Decimal(offer["apr"]) <= Decimal("0.24")
    assert sum(i["principal"] for i in offer["schedule"]) == 5_000_000
    assert application["decision"]["policy_version"]


def test_entrusted_payment_goes_to_the_supplier(api) -> None:
    application = api.signed(amount=3_000_000)
    contract_id = application["contract"]["contract_id"]
    r = api.post(f"/v1/contracts/{contract_id}/disbursements",
                 {"mode": "entrusted", "payee_name": "佛山华美五金有限公司",
                  "payee_account": "44050101234567890123", "reference": "PO-2026-0042"})
    assert r.status_code == 201, r.text
    payout = r.json()
    assert payout["mode"] == "entrusted" and payout["reference"] == "PO-2026-0042"
    [transfer] = api.gateway.paid_out("PAYOUT-")
    assert transfer.account == "44050101234567890123" and transfer.name == "佛山华美五金有限公司"


def test_contract_hash_is_attested_on_the_ledger_chain(api) -> None:
    application = api.signed()
    contract = application["contract"]
    from puhui.origination.offer import contract_hash
    from puhui.store.ledger_repo import LedgerRepository

    assert contract["content_masked"]  # the hash is over the full text, which staff read
    with api.platform.read() as session:
        from puhui.services.applications import contract_content
        from puhui.store.platform_models import ContractRow

        row = session.get(ContractRow, contract["contract_id"])
        assert contract_hash(contract_content(session, row, application["applicant_id"])) == \
            contract["content_hash"]
        entry = LedgerRepository(session).attestation("loan_contract", contract["contract_id"])
    assert entry is not None and entry.seq == contract["ledger_seq"]
    assert entry.attests.sha256 == contract["content_hash"]


def test_auto_debit_collects_what_is_due_and_records_failures(api) -> None:
    good = api.disbursed(amount=2_000_000)
    short = api.disbursed(amount=2_000_000)
    short_card = None
    with api.platform.read() as session:
        from puhui.services.applicants import load_account
        from puhui.store.platform_models import ContractRow

        row = session.get(ContractRow, short["contract"]["contract_id"])
        short_card = load_account(session, short["applicant_id"], row.account_id).card_number
    api.gateway.decline = lambda account, amount: "insufficient funds" if account == short_card else None
    first_due = date.fromisoformat(good["offer"]["schedule"][0]["due_date"])
    api.clock.set(at_business_date(first_due))
    r = api.post("/v1/operations/auto-debit", {}, who="admin")
    assert r.status_code == 200, r.text
    assert r.json()["collected"] == 1 and r.json()["failed"] == 1
    again = api.post("/v1/operations/auto-debit", {}, who="admin")  # same day: nothing new
    assert again.json()["attempted"] == 0
    assert api.get(f"/v1/loans/{good['disbursement']['loan_id']}").json()["amount_due"] == 0
    late = api.get(f"/v1/loans/{short['disbursement']['loan_id']}",
                   params={"as_of": (first_due + timedelta(days=5)).isoformat()}).json()
    assert late["days_past_due"] == 5


def test_referred_application_is_decided_by_a_credit_officer(api) -> None:
    applicant_id, account_id, _ = api.onboard(monthly_revenue=40_000_000)
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "SME-EI-12",
                                      "amount": 80_000_000, "submit": True})
    assert r.status_code == 201 and r.json()["status"] == "referred", r.text
    application_id = r.json()["application_id"]
    assert api.post(f"/v1/applications/{application_id}/review",
                    {"approve": True, "note": "site visit ok"}).status_code == 403
    r = api.post(f"/v1/applications/{application_id}/review",
                 {"approve": True, "note": "site visit ok, guarantor not needed",
                  "amount": 60_000_000}, who="officer")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "offered" and r.json()["offer"]["principal"] == 60_000_000
    assert r.json()["decision"]["policy_version"].startswith("manual:")


def test_offers_expire_at_end_of_day(api) -> None:
    application = api.offered()
    api.clock.advance(timedelta(days=8))
    r = api.post("/v1/operations/end-of-day", {}, who="admin")
    assert application["application_id"] in r.json()["expired_applications"]
    r = api.post(f"/v1/applications/{application['application_id']}/accept",
                 {"account_id": application["account_id"]})
    assert r.status_code == 409 and r.json()["type"] == "/problems/illegal-transition"


@pytest.mark.parametrize("product", [p.code for p in DEMO_PRODUCTS
                                     if p.method is not RepaymentMethod.REVOLVING])
def test_the_disbursed_loan_runs_on_the_signed_offers_schedule(api, product) -> None:
    """Every shipped term product (a revolving line has no schedule to sign): the loan paid out
    on the offer's date has exactly the instalments of the offer in the signed contract."""
    application = api.disbursed(product=product, amount=2_000_000)
    signed = application["contract"]["content"]["offer"]
    assert signed["offer_id"] == application["offer"]["offer_id"]
    loan = api.get(f"/v1/loans/{application['disbursement']['loan_id']}").json()
    assert loan["product"] == product and loan["schedule"]
    assert [(i["number"], i["start"], i["due_date"], i["principal"], i["interest"], i["fee"])
            for i in loan["schedule"]] == \
        [(r["number"], r["start"], r["due_date"], r["principal"], r["interest"], r["fee"])
         for r in signed["schedule"]]


def test_a_loan_paid_out_after_the_offers_date_runs_from_its_payout(api) -> None:
    """The offer's schedule runs from the offer's date; a payout on a later day (within the
    offer's validity) opens the loan on the schedule of its own value date, as it always has."""
    application = api.signed(amount=3_000_000)
    offered_on = date.fromisoformat(application["offer"]["start"])
    api.clock.set(at_business_date(offered_on + timedelta(days=2)))
    r = api.post(f"/v1/contracts/{application['contract']['contract_id']}/disbursements",
                 {"mode": "bound_account"})
    assert r.status_code == 201, r.text
    payout = r.json()
    assert payout["value_date"] == (offered_on + timedelta(days=2)).isoformat()
    loan = api.get(f"/v1/loans/{payout['loan_id']}").json()
    product = LoanProduct.from_dict(application["offer"]["product"])
    core = build_schedule(product, 3_000_000, offered_on + timedelta(days=2))
    assert [(i["start"], i["due_date"], i["principal"], i["interest"]) for i in loan["schedule"]] \
        == [(i.start.isoformat(), i.due.isoformat(), i.principal, i.interest)
            for i in core.instalments]
