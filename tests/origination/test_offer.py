"""Offers (priced, disclosed, time-limited) and the contracts their acceptance makes."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from origination_samples import T0, account, company, shop
from puhui.errors import (
    InvalidApplication, InvalidProduct, OfferExpired, RateCapExceeded,
)
from puhui.loans.product import LoanProduct, RateCap, RepaymentMethod
from puhui.decision.outcome import Decision, Outcome, Reason
from puhui.origination.offer import (
    GOVERNING_TERMS_VERSION, Contract, Offer, canonical_json, contract_hash, draft_contract,
    make_offer, verify_contract,
)

PRODUCT = LoanProduct("SME12", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.12"), term_periods=12,
                      upfront_fee_rate=Decimal("0.01"), instalment_fee_fixed=10_00)
APPROVED = Decision(Outcome.APPROVE, (), 100_000_00, Decimal("0.108"), "B", "default-2026.11")
START = date(2026, 5, 1)


def offer(decision: Decision = APPROVED, product: LoanProduct = PRODUCT, **kw) -> Offer:
    return make_offer("of-1", "app-1", product, decision, START, T0, **kw)


def test_offer_carries_the_decided_amount_and_rate():
    o = offer()
    assert o.principal == 100_000_00 and o.product.annual_rate == Decimal("0.108")
    assert o.product.code == "SME12" and o.product.upfront_fee_rate == Decimal("0.01")
    assert o.created_at == T0 and o.expires_at == T0 + timedelta(days=7)
    assert o.quote.schedule.start == START and len(o.quote.schedule.instalments) == 12


def test_offer_totals_add_up():
    o = offer()
    rows = o.to_dict()["schedule"]
    assert sum(r["principal"] for r in rows) == o.principal
    assert o.upfront_fee == 1_000_00 and o.net_disbursed == 99_000_00
    assert o.total_fees == 1_000_00 + 12 * 10_00
    assert o.total_repayable == o.principal + o.total_interest + 12 * 10_00
    assert sum(r["payment"] for r in rows) == o.total_repayable
    assert sum(r["interest"] for r in rows) == o.total_interest
    assert rows[-1]["balance_after"] == 0
    assert all(r["payment"] == r["principal"] + r["interest"] + r["fee"] for r in rows)
    assert [r["number"] for r in rows] == list(range(1, 13))
    assert rows[0]["due_date"] == "2026-06-01"


@pytest.mark.parametrize("decision", [
    Decision(Outcome.DECLINE, (Reason("LOW_REVENUE", "too low"),), None, None, None, "p"),
    Decision(Outcome.REFER, (Reason("LARGE_AMOUNT", "big"),), 600_000_00, Decimal("0.072"), "A",
             "p"),
])
def test_only_approvals_become_offers(decision):
    with pytest.raises(InvalidApplication, match="only an approval"):
        offer(decision)


def test_the_rate_cap_is_applied_to_the_all_in_cost():
    assert offer(cap=RateCap(Decimal("0.24"))).quote.apr < Decimal("0.24")
    # nominal 10.8% is under 12%, but fees push the IRR cost above it
    with pytest.raises(RateCapExceeded, match="annualised cost"):
        offer(cap=RateCap(Decimal("0.12")))


def test_offer_validity_and_consistency():
    with pytest.raises(InvalidApplication):
        offer(valid_for=timedelta(0))
    o = offer()
    with pytest.raises(InvalidApplication, match="quote"):
        replace(o, principal=o.principal + 1)
    with pytest.raises(InvalidApplication, match="expire after"):
        replace(o, expires_at=o.created_at)


def test_offer_to_dict_is_json_and_round_trips():
    o = offer()
    data = json.loads(json.dumps(o.to_dict()))
    assert data["apr"] == str(o.quote.apr) and data["product"]["annual_rate"] == "0.108"
    assert data["effective_annual_rate"] == str(o.quote.effective_annual_rate)
    assert Offer.from_dict(data) == o


@pytest.mark.parametrize("tamper", [
    lambda d: d["schedule"][3].update(interest=d["schedule"][3]["interest"] + 1),
    lambda d: d["schedule"].pop(),
    lambda d: d.update(apr="0.01"),
    lambda d: d.update(total_repayable=d["total_repayable"] - 1),
    lambda d: d.update(principal=d["principal"] + 100),
    lambda d: d["product"].update(annual_rate="0.05"),
    lambda d: d.update(start="2026-05-02"),
])
def test_a_stored_offer_that_does_not_match_its_terms_is_refused(tamper):
    data = offer().to_dict()
    tamper(data)
    with pytest.raises(InvalidApplication):
        Offer.from_dict(data)


def test_offer_from_dict_refuses_missing_fields():
    data = offer().to_dict()
    del data["schedule"]
    with pytest.raises(InvalidApplication, match="missing"):
        Offer.from_dict(data)


methods = st.sampled_from([RepaymentMethod.EQUAL_INSTALMENT, RepaymentMethod.EQUAL_PRINCIPAL,
                           RepaymentMethod.INTEREST_FIRST])


@settings(max_examples=40, deadline=None)
@given(method=methods, term=st.integers(1, 36), amount=st.integers(1_000_00, 5_000_000_00),
       rate=st.decimals("0.01", "0.24", places=4), start=st.dates(date(2024, 1, 1),
                                                                  date(2030, 12, 31)))
def test_offers_round_trip_and_repay_exactly_the_principal(method, term, amount, rate, start):
    product = LoanProduct("P", method, Decimal("0.1"), term_periods=term)
    decision = Decision(Outcome.APPROVE, (), amount, rate, "B", "p")
    o = make_offer("o", "a", product, decision, start, T0)
    rows = o.to_dict()["schedule"]
    assert sum(r["principal"] for r in rows) == amount and rows[-1]["balance_after"] == 0
    assert o.total_repayable == amount + o.total_interest + o.total_fees - o.upfront_fee
    assert Offer.from_dict(json.loads(json.dumps(o.to_dict()))) == o


def test_revolving_products_cannot_be_offered_as_a_schedule():
    product = LoanProduct("R", RepaymentMethod.REVOLVING, Decimal("0.1"), term_days=365)
    with pytest.raises(InvalidProduct):
        offer(product=product)


# -- contracts -------------------------------------------------------------------------------------

def contract(o: Offer | None = None, applicant=None, acct=None, at=None) -> Contract:
    return draft_contract("ct-1", o or offer(), applicant or shop(), acct or account(),
                          at or T0 + timedelta(hours=1))


def test_contract_content_is_the_full_legal_record():
    app, o = shop(), offer()
    c = contract(o, app)
    assert set(c.content) == {"contract_id", "offer", "borrower", "repayment_account",
                              "accepted_at", "governing_terms_version"}
    assert (c.contract_id, c.offer_id, c.application_id) == ("ct-1", "of-1", "app-1")
    assert c.content["offer"] == o.to_dict()
    assert c.content["borrower"]["owner"]["resident_id"] == app.owner.resident_id  # unmasked
    assert c.content["repayment_account"]["card_number"] == account().card_number
    assert c.content["accepted_at"] == "2026-05-01T09:00:00+00:00"
    assert c.content["governing_terms_version"] == GOVERNING_TERMS_VERSION


def test_contract_hash_is_sha256_of_canonical_json():
    c = contract()
    body = json.dumps(c.content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert c.content_hash == hashlib.sha256(body.encode("utf-8")).hexdigest()
    assert "张三".encode("utf-8") in canonical_json(c.content)
    shuffled = dict(reversed(list(c.content.items())))
    assert contract_hash(shuffled) == c.content_hash
    assert verify_contract(c)


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, path + (i,))
    else:
        yield path, value


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value is None:
        return "x"
    return str(value) + "x"


def test_changing_any_term_changes_the_hash_and_breaks_verification():
    c = contract()
    leaves = list(_leaves(c.content))
    assert len(leaves) > 100
    for path, value in leaves:
        content = copy.deepcopy(c.content)
        target = content
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = _changed(value)
        assert contract_hash(content) != c.content_hash, path
        assert not verify_contract(replace(c, content=content)), path


@pytest.mark.parametrize("variant", [
    lambda: contract(offer(Decision(Outcome.APPROVE, (), 100_000_00, Decimal("0.109"), "B", "p"))),
    lambda: contract(offer(replace(APPROVED, amount=100_000_00 + 100))),
    lambda: contract(make_offer("of-1", "app-1", PRODUCT, APPROVED, START + timedelta(days=1), T0)),
    lambda: contract(acct=account().__class__("4111111111111111", "张三")),
    lambda: contract(applicant=shop(monthly_revenue=50_000_01)),
    lambda: contract(at=T0 + timedelta(hours=2)),
    lambda: draft_contract("ct-2", offer(), shop(), account(), T0 + timedelta(hours=1)),
    lambda: draft_contract("ct-1", offer(), shop(), account(), T0 + timedelta(hours=1),
                           terms_version="puhui-loan-terms-v2"),
])
def test_different_terms_give_a_different_contract_hash(variant):
    assert variant().content_hash != contract().content_hash


def test_contract_is_deterministic():
    assert contract() == contract()


def test_accepting_at_or_after_expiry_raises_offer_expired():
    o = offer()
    assert verify_contract(contract(o, at=o.expires_at - timedelta(microseconds=1)))
    for at in (o.expires_at, o.expires_at + timedelta(days=1)):
        with pytest.raises(OfferExpired, match="expired"):
            contract(o, at=at)


def test_acceptance_before_the_offer_or_to_someone_elses_account_is_refused():
    with pytest.raises(InvalidApplication, match="before it was made"):
        contract(at=T0 - timedelta(seconds=1))
    with pytest.raises(InvalidApplication, match="is not the owner"):
        contract(acct=account("别人"))
    assert verify_contract(contract(applicant=company(), acct=account("北京普惠科技有限公司")))


def test_verify_contract_checks_ids_and_survives_garbage():
    c = contract()
    assert not verify_contract(replace(c, contract_id="ct-9"))
    assert not verify_contract(replace(c, offer_id="of-9"))
    assert not verify_contract(replace(c, application_id="app-9"))
    assert not verify_contract(replace(c, content_hash="0" * 64))
    assert not verify_contract(replace(c, content={"contract_id": "ct-1"}))
    assert not verify_contract(replace(c, content={**c.content, "x": {1, 2}}))


def test_contract_round_trips_and_is_isolated_from_the_caller():
    c = contract()
    again = Contract.from_dict(json.loads(json.dumps(c.to_dict(), ensure_ascii=False)))
    assert again == c and verify_contract(again)
    content = c.to_dict()["content"]
    content["offer"]["principal"] = 1
    assert verify_contract(c)


@pytest.mark.parametrize("product", [PRODUCT, LoanProduct(
    "BUL", RepaymentMethod.BULLET, Decimal("0.07"), term_days=90)])
def test_an_offer_read_as_stored_is_the_offer_made(product):
    o = offer(product=product)
    assert Offer.as_stored(json.loads(json.dumps(o.to_dict()))) == o


def test_an_offer_read_as_stored_takes_its_schedule_from_the_record():
    """As stored means not recomputed: the loan paid out on it checks the schedule instead."""
    data = offer().to_dict()
    data["schedule"][3]["interest"] += 1
    assert Offer.as_stored(data).quote.schedule.instalments[3].interest == \
        offer().quote.schedule.instalments[3].interest + 1


def test_an_offer_stored_without_its_figures_is_read_by_recomputing_them():
    data = offer().to_dict()
    del data["apr"]
    assert Offer.as_stored(data) == offer()


@pytest.mark.parametrize("tamper", [
    lambda d: d["schedule"][0].pop("due_date"),
    lambda d: d["schedule"][0].update(principal="12"),
    lambda d: d.update(apr="not a number"),
    lambda d: d.update(principal=d["principal"] + 100),  # no longer the schedule's principal
])
def test_an_unreadable_stored_offer_is_refused_as_stored_too(tamper):
    data = offer().to_dict()
    tamper(data)
    with pytest.raises(InvalidApplication):
        Offer.as_stored(data)
