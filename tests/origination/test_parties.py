"""Applicants, people and bank accounts: validation, normalisation, round trips, binding."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from hypothesis import given, settings

from origination_samples import (
    KNOWN_CARDS, KNOWN_USCCS, ON, T0, account, applicants, company, person, resident_id, shop,
)
from puhui.errors import InvalidApplication, InvalidIdentity
from puhui.parties.identity import IdentityKind
from puhui.parties.applicant import (
    ACCOUNT_BINDING_SOURCE, Applicant, ApplicantKind, BankAccount, Person, check_account_binding,
    verify_applicant,
)


# -- Person ------------------------------------------------------------------------------------

def test_person_normalises_numbers_and_name():
    p = Person("  王五 ", " " + resident_id("19900101") + " ", "+86 139 1234 5678")
    assert p.name == "王五" and p.mobile == "13912345678"
    assert p.resident_id == resident_id("19900101")
    assert Person("王五", "11010519491231002x", "13800138000").resident_id == "11010519491231002X"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_person_name_must_be_1_to_100_characters(name):
    with pytest.raises(InvalidApplication, match="name"):
        Person(name, resident_id(), "13800138000")


def test_person_with_bad_numbers_raises_invalid_identity():
    with pytest.raises(InvalidIdentity, match="check digit"):
        Person("张三", "110101198503071234", "13800138000")
    with pytest.raises(InvalidIdentity, match="fixed-line"):
        Person("张三", resident_id(), "010 12345678")
    assert Person("张" * 100, resident_id(), "13800138000").name == "张" * 100


# -- Applicant ---------------------------------------------------------------------------------

def test_applicant_accepts_kind_as_text_and_guarantors_as_a_list():
    a = shop(kind="individual_business", guarantors=[person("赵六", seq="777", mobile="18612345678")])
    assert a.kind is ApplicantKind.INDIVIDUAL_BUSINESS
    assert isinstance(a.guarantors, tuple) and a.guarantors[0].name == "赵六"
    hash(a)


def test_enterprise_needs_a_valid_uscc():
    with pytest.raises(InvalidApplication, match="unified social credit code"):
        company(uscc=None)
    with pytest.raises(InvalidApplication):
        company(uscc="  ")
    with pytest.raises(InvalidIdentity, match="check character"):
        company(uscc="91110000600037341M")
    assert company(uscc="9111 0000 6000 3734 1l").uscc == KNOWN_USCCS[0]


def test_individual_business_uscc_is_optional():
    assert shop().uscc is None
    assert shop(uscc="").uscc is None
    assert shop(uscc=KNOWN_USCCS[0]).uscc == KNOWN_USCCS[0]


@pytest.mark.parametrize("changes, message", [
    ({"kind": "partnership"}, "unknown applicant kind"),
    ({"business_name": " "}, "business_name"),
    ({"owner": "张三"}, "owner must be a Person"),
    ({"monthly_revenue": -1}, "monthly_revenue"),
    ({"monthly_revenue": 1.5}, "monthly_revenue"),
    ({"monthly_revenue": True}, "monthly_revenue"),
    ({"region_code": "1101"}, "region_code"),
    ({"region_code": "11010a"}, "region_code"),
    ({"established_on": datetime(2020, 1, 1)}, "established_on"),
    ({"established_on": "2020-01-01"}, "established_on"),
    ({"guarantors": [object()]}, "guarantor"),
    ({"guarantors": "张三"}, "guarantor"),
])
def test_applicant_refuses_bad_data(changes, message):
    with pytest.raises(InvalidApplication, match=message):
        shop(**changes)


def test_guarantors_must_be_distinct_and_not_the_individual_owner():
    g = person("赵六", seq="777")
    with pytest.raises(InvalidApplication, match="twice"):
        shop(guarantors=(g, g))
    with pytest.raises(InvalidApplication, match="already liable"):
        shop(guarantors=(person(),))
    # an enterprise's legal representative may guarantee its loan in person
    c = company()
    assert company(guarantors=(c.owner,)).guarantors == (c.owner,)


@settings(deadline=None)
@given(applicants())
def test_applicant_round_trips_exactly_through_json(applicant):
    data = applicant.to_dict()
    assert Applicant.from_dict(data) == applicant
    assert Applicant.from_dict(json.loads(json.dumps(data, ensure_ascii=False))) == applicant
    assert Applicant.from_dict(applicant.to_dict()).to_dict() == data


def test_applicant_from_dict_fills_defaults():
    a = Applicant.from_dict({"kind": "individual_business", "business_name": "小店",
                             "owner": person().to_dict()})
    assert (a.uscc, a.industry, a.region_code, a.established_on, a.monthly_revenue,
            a.guarantors) == (None, "", "", None, 0, ())


@pytest.mark.parametrize("change", [
    lambda d: d.pop("owner"),
    lambda d: d.pop("kind"),
    lambda d: d.update(monthly_revenue="5000000"),
    lambda d: d.update(monthly_revenue=True),
    lambda d: d.update(established_on="2021/03/01"),
    lambda d: d.update(established_on=20210301),
    lambda d: d.update(guarantors="none"),
    lambda d: d.update(owner={"name": "张三"}),
    lambda d: d.update(owner="张三"),
    lambda d: d.update(nickname="x"),
    lambda d: d.update(kind=1),
])
def test_applicant_from_dict_refuses_missing_or_wrong_typed_fields(change):
    data = shop().to_dict()
    change(data)
    with pytest.raises(InvalidApplication):
        Applicant.from_dict(data)


def test_applicant_from_dict_refuses_non_mappings():
    with pytest.raises(InvalidApplication):
        Applicant.from_dict(["kind"])  # type: ignore[arg-type]


# -- BankAccount -------------------------------------------------------------------------------

def test_bank_account_normalises_and_round_trips():
    acct = BankAccount("6222 0212 3456 7890 128", " 张三 ", "工行")
    assert acct.card_number == KNOWN_CARDS[1] and acct.holder_name == "张三"
    assert BankAccount.from_dict(acct.to_dict()) == acct
    bare = BankAccount.from_dict({"card_number": KNOWN_CARDS[0], "holder_name": "x"})
    assert bare.bank_name == ""
    with pytest.raises(InvalidIdentity, match="Luhn"):
        BankAccount("4111111111111112", "张三")
    with pytest.raises(InvalidApplication):
        BankAccount(KNOWN_CARDS[0], "")
    with pytest.raises(InvalidApplication):
        BankAccount.from_dict({"card_number": KNOWN_CARDS[0]})


# -- verification ------------------------------------------------------------------------------

def test_verify_applicant_checks_every_number_once_with_one_timestamp():
    g1, g2 = person("赵六", seq="777", mobile="18612345678"), person("钱七", seq="888")
    checks = verify_applicant(company(guarantors=(g1, g2)), ON, T0)
    assert [(c.kind, c.details["role"]) for c in checks] == [
        (IdentityKind.RESIDENT_ID, "owner"), (IdentityKind.MOBILE, "owner"),
        (IdentityKind.USCC, "business"),
        (IdentityKind.RESIDENT_ID, "guarantor 1"), (IdentityKind.MOBILE, "guarantor 1"),
        (IdentityKind.RESIDENT_ID, "guarantor 2"), (IdentityKind.MOBILE, "guarantor 2")]
    assert all(c.passed and c.checked_at == T0 for c in checks)
    assert len(verify_applicant(shop(), ON, T0)) == 2


def test_verify_applicant_fails_a_person_born_after_the_check_date():
    young = person("孙八", birth="20200101", seq="999")
    checks = verify_applicant(shop(guarantors=(young,)), date(2019, 6, 1), T0)
    failed = [c for c in checks if not c.passed]
    assert [c.details["role"] for c in failed] == ["guarantor 1"]
    assert "after 2019-06-01" in failed[0].reason


def test_account_binding_for_an_individual_business():
    check = check_account_binding(shop(), account("张三"), checked_at=T0)
    assert check.passed and check.kind is IdentityKind.BANK_CARD
    assert check.source == ACCOUNT_BINDING_SOURCE and check.details["holder_match"] == "owner"
    assert check.subject == "622202*********0128" and check.checked_at == T0
    wrong = check_account_binding(shop(), account("张三小吃店"), checked_at=T0)
    assert not wrong.passed
    assert wrong.reason == "account holder 张三小吃店 is not the owner (张三)"


def test_account_binding_for_an_enterprise_accepts_the_company_or_its_representative():
    c = company()
    assert check_account_binding(c, account("北京普惠科技有限公司")).details["holder_match"] \
        == "business"
    assert check_account_binding(c, account("李四")).details["holder_match"] == "owner"
    other = check_account_binding(c, account("张三"))
    assert not other.passed and "北京普惠科技有限公司" in other.reason and "李四" in other.reason


def test_account_binding_ignores_width_and_spacing_only():
    c = company(business_name="普惠(北京)科技有限公司")
    assert check_account_binding(c, account("普惠（北京）科技 有限公司")).passed
    assert not check_account_binding(c, account("普惠(上海)科技有限公司")).passed
    latin = shop(owner=person("Wang Wu"))
    assert check_account_binding(latin, account("WANG  WU")).passed
