"""Identity numbers: resident IDs, USCCs, bank cards and mobiles, validated for real."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from origination_samples import (
    KNOWN_CARDS, KNOWN_MOBILES, KNOWN_RESIDENT_IDS, KNOWN_USCCS, ON, T0, aware, card, cards,
    resident_id, resident_ids, uscc_code, usccs,
)
from puhui.errors import DateOrderError, InvalidApplication, InvalidIdentity
from puhui.parties.identity import (
    BANK_CARD_SOURCE, MOBILE_SOURCE, RESIDENT_ID_SOURCE, USCC_SOURCE, IdentityCheck, IdentityKind,
    age_on, check_bank_card, check_mobile, check_resident_id, check_uscc, mask,
    normalise_bank_card, normalise_mobile, normalise_resident_id, normalise_uscc,
)


# -- resident IDs (GB 11643) -------------------------------------------------------------------

@pytest.mark.parametrize("number", KNOWN_RESIDENT_IDS)
def test_known_resident_ids_pass(number):
    check = check_resident_id(number, on=ON, checked_at=T0)
    assert check.passed and check.reason == "ok"
    assert check.kind is IdentityKind.RESIDENT_ID and check.source == RESIDENT_ID_SOURCE
    assert check.subject == number[:6] + "*" * 8 + number[-4:]
    assert normalise_resident_id(number) == number


def test_resident_id_details_carry_birth_date_region_and_age():
    check = check_resident_id("110101198503071235", on=date(2026, 5, 1), checked_at=T0)
    assert check.details["birth_date"] == "1985-03-07"
    assert check.details["region_code"] == "110101"
    assert check.details["age"] == "41"
    assert check.details["county"] == "东城区"
    assert check.subject == "110101********1235"
    assert "110101198503071235" not in repr(check.to_dict())


def test_age_counts_whole_years_on_the_day():
    number = resident_id("19850307")
    assert check_resident_id(number, on=date(2026, 3, 6)).details["age"] == "40"
    assert check_resident_id(number, on=date(2026, 3, 7)).details["age"] == "41"


def test_lower_case_x_and_spaces_are_normalised():
    number = KNOWN_RESIDENT_IDS[1]
    assert normalise_resident_id(number.lower()) == number
    assert normalise_resident_id(f" {number[:6]} {number[6:14]} {number[14:]} ") == number


@pytest.mark.parametrize("number", KNOWN_RESIDENT_IDS)
def test_every_wrong_check_digit_fails(number):
    for digit in "0123456789X":
        if digit == number[-1]:
            continue
        bad = number[:-1] + digit
        check = check_resident_id(bad, on=ON)
        assert not check.passed and check.reason == "resident ID check digit is wrong"
        with pytest.raises(InvalidIdentity, match="check digit"):
            normalise_resident_id(bad)


@settings(deadline=None)
@given(resident_ids, st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_change_is_caught(number, position, delta):
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1:]
    assert not check_resident_id(changed, on=ON).passed


@pytest.mark.parametrize("birth", ["19850230", "19851301", "19850000", "19900229", "19850431"])
def test_impossible_birth_dates_fail_even_with_a_right_check_digit(birth):
    check = check_resident_id(resident_id(birth), on=ON)
    assert not check.passed
    assert check.reason == f"resident ID birth date {birth} is not a real date"


def test_leap_day_birth_is_real():
    assert check_resident_id(resident_id("19880229"), on=ON).passed


def test_birth_after_the_check_date_fails():
    number = resident_id("20300101")
    check = check_resident_id(number, on=date(2026, 5, 1))
    assert not check.passed and "after 2026-05-01" in check.reason
    assert check.details["birth_date"] == "2030-01-01"
    assert "age" not in check.details
    born_today = check_resident_id(resident_id("20260501"), on=date(2026, 5, 1))
    assert born_today.passed and born_today.details["age"] == "0"


def test_unknown_region_and_region_not_yet_in_use_fail():
    unknown = check_resident_id(resident_id("19850307", region="999999"), on=ON)
    assert not unknown.passed and "not a known" in unknown.reason
    # Pudong New Area (310115) was created in 1992
    assert check_resident_id(resident_id("19950101", region="310115"), on=ON).passed
    early = check_resident_id(resident_id("19800229", region="310115"), on=ON)
    assert not early.passed and "was not in use in 1980" in early.reason


@pytest.mark.parametrize("number, reason", [
    ("11010185030712", "18 characters, got 14"),
    ("110101850307123", "15-digit first-generation"),
    ("1101011985030712355", "18 characters, got 19"),
    ("11010119850307A235", "first 17 characters"),
    ("11010119850307123Y", "last character"),
    ("", "18 characters, got 0"),
])
def test_malformed_resident_ids_say_why(number, reason):
    check = check_resident_id(number, on=ON)
    assert not check.passed and reason in check.reason
    with pytest.raises(InvalidIdentity, match=reason.split(",")[0]):
        normalise_resident_id(number)


def test_non_text_is_refused_not_crashed():
    check = check_resident_id(110101198503071235, on=ON)  # type: ignore[arg-type]
    assert not check.passed and "must be text" in check.reason and check.subject == ""
    with pytest.raises(InvalidIdentity):
        normalise_mobile(None)  # type: ignore[arg-type]


@settings(deadline=None)
@given(st.text(max_size=30))
def test_checks_never_raise_for_bad_input(text):
    for check in (check_resident_id(text, on=ON), check_uscc(text), check_bank_card(text),
                  check_mobile(text)):
        assert isinstance(check.passed, bool)
        if len(text) >= 11 and "*" not in text:  # a text masked already may show as itself
            assert check.subject != text.strip() or not text.strip()


@settings(deadline=None)
@given(resident_ids)
def test_valid_ids_pass_and_are_never_shown_in_full(number):
    check = check_resident_id(number, on=ON)
    assert check.passed, check.reason
    assert check.subject == mask(number) and number not in check.subject
    assert check.subject.count("*") == 8


def test_age_on():
    assert age_on(date(2000, 5, 1), date(2026, 4, 30)) == 25
    assert age_on(date(2000, 5, 1), date(2026, 5, 1)) == 26
    assert age_on(date(2000, 2, 29), date(2026, 2, 28)) == 25
    assert age_on(date(2000, 2, 29), date(2026, 3, 1)) == 26
    assert age_on(date(2000, 2, 29), date(2028, 2, 29)) == 28
    with pytest.raises(DateOrderError):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


def test_check_date_must_be_a_date():
    with pytest.raises(InvalidApplication):
        check_resident_id(KNOWN_RESIDENT_IDS[0], on=datetime(2026, 1, 1))  # type: ignore[arg-type]


# -- USCC (GB 32100) ---------------------------------------------------------------------------

def test_known_uscc_passes():
    check = check_uscc(KNOWN_USCCS[0], checked_at=T0)
    assert check.passed and check.source == USCC_SOURCE
    assert check.subject == "911100********341L"
    assert check.details == {"entity_type": "91", "region_code": "110000"}
    assert normalise_uscc("9111 0000 6000-3734 1l") == KNOWN_USCCS[0]


@settings(deadline=None)
@given(usccs)
def test_computed_usccs_pass_and_a_wrong_check_character_fails(code):
    assert check_uscc(code).passed
    wrong = "0" if code[-1] != "0" else "1"
    check = check_uscc(code[:-1] + wrong)
    assert not check.passed
    assert check.reason == "unified social credit code check character is wrong"


@pytest.mark.parametrize("code, reason", [
    ("91110000600037341", "18 characters, got 17"),
    ("9111000060003734IL", "without I, O, S, V, Z"),
    ("A1110000600037341L", "8 digits"),
])
def test_malformed_usccs(code, reason):
    assert reason in check_uscc(code).reason
    with pytest.raises(InvalidIdentity):
        normalise_uscc(code)


# -- bank cards (Luhn) -------------------------------------------------------------------------

@pytest.mark.parametrize("number", KNOWN_CARDS)
def test_known_cards_pass(number):
    check = check_bank_card(number, checked_at=T0)
    assert check.passed and check.source == BANK_CARD_SOURCE
    assert check.details == {"bin": number[:6]}
    assert check.subject == mask(number) and check.subject.endswith(number[-4:])


@settings(deadline=None)
@given(cards)
def test_luhn_cards_of_16_to_19_digits_pass_and_a_changed_digit_fails(number):
    assert 16 <= len(number) <= 19 and check_bank_card(number).passed
    changed = number[:-1] + str((int(number[-1]) + 1) % 10)
    check = check_bank_card(changed)
    assert not check.passed and "Luhn" in check.reason


@pytest.mark.parametrize("number, reason", [
    (card("4" * 14), "16 to 19 digits, got 15"),
    (card("4" * 19), "16 to 19 digits, got 20"),
    ("4111-1111-1111-111a", "only digits"),
])
def test_bad_card_lengths_and_characters(number, reason):
    assert reason in check_bank_card(number).reason
    with pytest.raises(InvalidIdentity):
        normalise_bank_card(number)


def test_card_separators_are_removed():
    assert normalise_bank_card("4111 1111-1111 1111") == "4111111111111111"


# -- mobiles (phonenumbers) --------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["+86 138 0013 8000", "13800138000", "8613800138000",
                                 "138-0013-8000", "+8613800138000", "0086 138 0013 8000"])
def test_mobile_formats_normalise_to_11_digits(raw):
    assert normalise_mobile(raw) == "13800138000"
    check = check_mobile(raw, checked_at=T0)
    assert check.passed and check.subject == "138****8000" and check.source == MOBILE_SOURCE


@pytest.mark.parametrize("number", KNOWN_MOBILES)
def test_known_mobiles(number):
    assert normalise_mobile(number) == number


@pytest.mark.parametrize("raw, reason", [
    ("010 12345678", "fixed-line"),
    ("+1 650 253 0000", "country code +1"),
    ("+852 6123 4567", "country code +852"),
    ("12345678901", "not a valid"),
    ("hello", "not a phone number"),
])
def test_non_mobile_numbers_fail(raw, reason):
    check = check_mobile(raw)
    assert not check.passed and reason in check.reason
    with pytest.raises(InvalidIdentity, match=reason.replace("+", r"\+")):
        normalise_mobile(raw)


# -- masking and the record --------------------------------------------------------------------

def test_mask():
    assert mask("110101198503071235") == "110101********1235"
    assert mask("13800138000", 3, 4) == "138****8000"
    assert mask("abcdef", 0, 0) == "******"
    assert mask("1234567890") == "**********"  # too short to keep both ends: nothing shown
    assert mask("") == ""
    with pytest.raises(ValueError):
        mask("123", -1)


def test_default_checked_at_is_utc_aware_now():
    before = datetime.now(timezone.utc)
    check = check_mobile("13800138000")
    assert check.checked_at.tzinfo is not None and check.checked_at.utcoffset() == timedelta(0)
    assert before <= check.checked_at <= datetime.now(timezone.utc)


def test_identity_check_refuses_naive_timestamps_and_converts_to_utc():
    with pytest.raises(InvalidApplication):
        IdentityCheck(IdentityKind.MOBILE, "138****8000", True, "ok", "x", datetime(2026, 1, 1))
    beijing = timezone(timedelta(hours=8))
    check = IdentityCheck("mobile", "138****8000", True, "ok", "x",
                          datetime(2026, 1, 1, 8, tzinfo=beijing))
    assert check.kind is IdentityKind.MOBILE
    assert check.checked_at == datetime(2026, 1, 1, 0, tzinfo=timezone.utc)
    assert check.checked_at.tzinfo == timezone.utc


checks = st.builds(
    IdentityCheck, st.sampled_from(list(IdentityKind)), st.text(max_size=20), st.booleans(),
    st.text(max_size=40), st.text(max_size=40), aware,
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4))


@settings(deadline=None)
@given(checks)
def test_identity_check_round_trips(check):
    assert IdentityCheck.from_dict(check.to_dict()) == check
    hash(check)


def test_identity_check_from_dict_refuses_bad_records():
    good = check_mobile("13800138000", checked_at=T0).to_dict()
    for key in ("kind", "passed", "checked_at"):
        with pytest.raises(InvalidApplication):
            IdentityCheck.from_dict({k: v for k, v in good.items() if k != key})
    for key, value in (("passed", "yes"), ("checked_at", "2026-01-01T00:00:00"), ("kind", "iban"),
                       ("details", {"a": 1})):
        with pytest.raises(InvalidApplication):
            IdentityCheck.from_dict({**good, key: value})
    assert IdentityCheck.from_dict(uscc_check := check_uscc(uscc_code(), checked_at=T0).to_dict()
                                   ).to_dict() == uscc_check
