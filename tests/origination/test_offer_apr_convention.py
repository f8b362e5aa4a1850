"""Offers name the APR convention they disclosed under; stored offers keep their figure."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from origination_samples import T0
from puhui.errors import InvalidApplication
from puhui.loans.cost import APR_CONVENTION, LEGACY_APR_CONVENTION, quote
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.decision.outcome import Decision, Outcome
from puhui.origination.offer import Offer, make_offer

# a repayment day makes a 10-day broken first period from 21 January: the two conventions differ
PRODUCT = LoanProduct("SME12", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.22"), term_periods=12,
                      upfront_fee_rate=Decimal("0.015"), repayment_day=1)
APPROVED = Decision(Outcome.APPROVE, (), 100_000_00, Decimal("0.22"), "B", "default-2026.11")
START = date(2026, 1, 21)


def stored() -> dict:
    return make_offer("of-1", "app-1", PRODUCT, APPROVED, START, T0).to_dict()


def test_a_new_offer_states_its_convention_and_reads_back():
    data = stored()
    assert data["apr_convention"] == APR_CONVENTION
    assert data["apr"] == "0.252617"
    assert Offer.from_dict(data).to_dict() == data


def test_an_offer_stored_before_conventions_were_named_keeps_its_figure():
    data = stored()
    del data["apr_convention"]
    legacy = quote(PRODUCT, 100_000_00, START, convention=LEGACY_APR_CONVENTION).apr
    assert legacy == Decimal("0.225854")
    data["apr"] = str(legacy)
    back = Offer.from_dict(data)
    assert back.quote.apr == legacy and back.quote.convention == LEGACY_APR_CONVENTION
    # the figure must still be the one its convention gives
    data["apr"] = "0.252617"
    with pytest.raises(InvalidApplication, match="apr"):
        Offer.from_dict(data)


@pytest.mark.parametrize("convention", ["irr-unit-period/v3", "", ["irr-unit-period/v2"], None])
def test_an_unknown_convention_is_refused(convention):
    data = stored()
    data["apr_convention"] = convention
    with pytest.raises(InvalidApplication):
        Offer.from_dict(data)
