"""The rate cap setting: which version and LPR apply on a date, with provenance; bounds; and
nothing retroactive."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.errors import InvalidRateCap, NoRateCapInForce
from puhui.loans.caps import (
    CapKind,
    CapProvenance,
    CapSchedule,
    CapVersion,
    LprPublication,
    cap_from_dict,
    cap_to_dict,
    clip_rate,
    offer_refusal,
)
from puhui.loans.product import LoanProduct, RateCap, RepaymentMethod

D = Decimal
FEB, MAR, APR = date(2026, 2, 20), date(2026, 3, 1), date(2026, 4, 1)


def fixed(version: int, start: date, rate: str = "0.24") -> CapVersion:
    return CapVersion(version, start, CapKind.FIXED, rate=D(rate))


def multiple(version: int, start: date, m: str = "4") -> CapVersion:
    return CapVersion(version, start, CapKind.LPR_MULTIPLE, multiple=D(m))


def lpr(i: int, rate: str, published: date, effective: date | None = None) -> LprPublication:
    return LprPublication(i, D(rate), published, effective or published)


SCHEDULE = CapSchedule(
    [fixed(1, date(2000, 1, 1)), multiple(2, MAR), fixed(3, APR, "0.20")],
    [lpr(1, "0.0310", date(2026, 1, 20)), lpr(2, "0.0300", FEB)])


def test_the_version_in_force_is_the_latest_on_or_before_the_date() -> None:
    day_before = SCHEDULE.cap_in_force(MAR - timedelta(days=1))
    assert day_before.annual_limit == D("0.24") and day_before.provenance.version == 1
    on = SCHEDULE.cap_in_force(MAR)
    assert on.annual_limit == D("0.12") and on.provenance.version == 2
    assert on.provenance.lpr_id == 2 and on.provenance.lpr_rate == D("0.03")
    assert SCHEDULE.cap_in_force(APR - timedelta(days=1)).annual_limit == D("0.12")
    assert SCHEDULE.cap_in_force(APR).annual_limit == D("0.20")
    assert SCHEDULE.cap_in_force(APR).provenance == CapProvenance(3, CapKind.FIXED, APR,
                                                                  rate=D("0.20"))


def test_an_lpr_multiple_uses_the_lpr_in_force_on_the_date() -> None:
    schedule = CapSchedule([multiple(1, date(2026, 1, 1))],
                           [lpr(1, "0.0310", date(2026, 1, 20)), lpr(2, "0.0300", FEB),
                            lpr(3, "0.0345", date(2026, 3, 20), date(2026, 3, 23))])
    assert schedule.cap_in_force(date(2026, 2, 19)).annual_limit == D("0.124")
    assert schedule.cap_in_force(FEB).annual_limit == D("0.12")
    assert schedule.cap_in_force(date(2026, 3, 22)).annual_limit == D("0.12")
    cap = schedule.cap_in_force(date(2026, 3, 23))
    assert cap.annual_limit == D("0.138") and cap.provenance.lpr_published_on == \
        date(2026, 3, 20)
    assert "LPR 3.45% published 2026-03-20" in cap.label
    with pytest.raises(NoRateCapInForce, match="no LPR"):
        schedule.cap_in_force(date(2026, 1, 19))


def test_same_effective_date_the_later_recorded_version_wins() -> None:
    schedule = CapSchedule([fixed(2, APR, "0.18"), fixed(1, date(2000, 1, 1)),
                            fixed(3, APR, "0.20")])
    assert schedule.cap_in_force(APR).provenance.version == 3


def test_no_version_no_cap() -> None:
    with pytest.raises(NoRateCapInForce):
        CapSchedule().cap_in_force(MAR)
    with pytest.raises(NoRateCapInForce):
        CapSchedule([fixed(1, APR)]).cap_in_force(MAR)
    with pytest.raises(InvalidRateCap):
        SCHEDULE.cap_in_force(datetime(2026, 3, 1, tzinfo=timezone.utc))  # type: ignore[arg-type]


@pytest.mark.parametrize("make, message", [
    (lambda: fixed(0, MAR, "0"), "above 0"),
    (lambda: fixed(0, MAR, "0.3601"), "at most 0.36"),
    (lambda: fixed(0, MAR, "-0.1"), "above 0"),
    (lambda: fixed(0, MAR, "0.1234567"), "6 decimal"),
    (lambda: CapVersion(0, MAR, "fixed", rate=0.24), "exact decimal"),  # type: ignore[arg-type]
    (lambda: CapVersion(0, MAR, "fixed", rate=D("NaN")), "finite"),
    (lambda: CapVersion(0, MAR, "fixed", rate="x"), "not a number"),  # type: ignore[arg-type]
    (lambda: CapVersion(0, MAR, "fixed"), "exact decimal"),
    (lambda: CapVersion(0, MAR, "fixed", rate=D("0.2"), multiple=D(4)), "not a multiple"),
    (lambda: CapVersion(0, MAR, "lpr_multiple", rate=D("0.2")), "not a rate"),
    (lambda: CapVersion(0, MAR, "percent", rate=D("0.2")), "fixed"),  # type: ignore[arg-type]
    (lambda: multiple(0, MAR, "0.99"), "at least 1"),
    (lambda: multiple(0, MAR, "10.01"), "at most 10"),
    (lambda: multiple(0, MAR, "4.001"), "2 decimal"),
    (lambda: CapVersion(0, "2026-03-01", "fixed", rate=D("0.2")), "date"),  # type: ignore
    (lambda: CapVersion(0, MAR, "fixed", rate=D("0.2"), label="x" * 201), "label"),
    (lambda: CapVersion(0, MAR, "fixed", rate=D("0.2"), note="a\nb"), "note"),
    (lambda: lpr(0, "0", FEB), "above 0"),
    (lambda: lpr(0, "0.2001", FEB), "at most 0.20"),
    (lambda: lpr(0, "0.03005", FEB), "4 decimal"),
    (lambda: lpr(0, "0.03", date(2019, 8, 19)), "2019-08-20"),
    (lambda: lpr(0, "0.03", FEB, FEB - timedelta(days=1)), "before it is published"),
])
def test_settings_out_of_bounds_are_refused(make, message) -> None:
    with pytest.raises(InvalidRateCap, match=message):
        make()


def test_the_bounds_themselves_are_allowed() -> None:
    assert fixed(0, MAR, "0.36").rate == D("0.36") and fixed(0, MAR, "0.000001").rate
    assert multiple(0, MAR, "1").multiple == 1 and str(multiple(0, MAR, "10.00").multiple) == "10"
    assert lpr(0, "0.2", date(2019, 8, 20)).rate == D("0.2")


def test_new_versions_take_effect_today_or_later_never_on_a_day_in_force() -> None:
    today = date(2026, 3, 15)
    SCHEDULE.check_new_version(multiple(0, today), today)   # version 2 took effect on 1 March
    SCHEDULE.check_new_version(fixed(0, APR, "0.18"), today)  # supersedes the scheduled one
    SCHEDULE.check_new_version(fixed(0, today + timedelta(days=366)), today)
    with pytest.raises(InvalidRateCap, match="in the past"):
        SCHEDULE.check_new_version(fixed(0, today - timedelta(days=1)), today)
    with pytest.raises(InvalidRateCap, match="366 days ahead"):
        SCHEDULE.check_new_version(fixed(0, today + timedelta(days=367)), today)
    with pytest.raises(InvalidRateCap, match="took effect on 2026-03-01"):
        SCHEDULE.check_new_version(fixed(0, MAR), MAR)
    SCHEDULE.check_new_version(fixed(0, MAR + timedelta(days=1)), MAR)


def test_new_lprs_are_published_and_not_retroactive() -> None:
    today = date(2026, 3, 20)
    SCHEDULE.check_new_lpr(lpr(0, "0.0295", today), today)
    SCHEDULE.check_new_lpr(lpr(0, "0.0295", FEB, today), today)  # recorded late: from today
    with pytest.raises(InvalidRateCap, match="not published yet"):
        SCHEDULE.check_new_lpr(lpr(0, "0.0295", today + timedelta(days=1)), today)
    with pytest.raises(InvalidRateCap, match="in the past"):
        SCHEDULE.check_new_lpr(lpr(0, "0.0295", date(2026, 3, 19)), today)
    with pytest.raises(InvalidRateCap, match="took effect on 2026-02-20"):
        SCHEDULE.check_new_lpr(lpr(0, "0.0295", FEB), FEB)


def test_a_cap_and_its_provenance_survive_json() -> None:
    for cap in (SCHEDULE.cap_in_force(MAR), SCHEDULE.cap_in_force(APR), RateCap(D("0.24"))):
        assert cap_from_dict(cap_to_dict(cap)) == cap
    assert cap_from_dict({"annual_limit": "0.24", "label": "old record"}) == \
        RateCap(D("0.24"), "old record")
    for bad in ({"annual_limit": 0.24, "label": "x"}, {"annual_limit": "x", "label": "x"},
                {"annual_limit": "0.24", "label": "x", "provenance": {"version": "1"}},
                {"annual_limit": "0.24", "label": "x", "provenance": {
                    **SCHEDULE.cap_in_force(MAR).provenance.to_dict(), "kind": "percent"}},
                [], None):
        with pytest.raises(InvalidRateCap):
            cap_from_dict(bad)


def test_rate_cap_keeps_its_two_argument_form() -> None:
    cap = RateCap(D("0.24"), "24%")
    assert cap.provenance is None and cap == RateCap(D("0.24"), "24%")
    assert RateCap.lpr_multiple("0.03").annual_limit == D("0.12")


def test_clipping_rounds_down_to_the_millionth() -> None:
    assert clip_rate(RateCap(D("0.12"))) == D("0.12")
    assert clip_rate(RateCap(D("0.1234567"))) == D("0.123456")
    assert clip_rate(RateCap(D("0.124"))) == D("0.124")


def test_a_product_that_can_cost_more_than_the_cap_is_refused() -> None:
    plain = LoanProduct("P", RepaymentMethod.EQUAL_INSTALMENT, D("0.12"), term_periods=12)
    assert offer_refusal(plain, RateCap(D("0.13")), MAR) is None
    assert "nominal rate 12.0000%" in offer_refusal(plain, RateCap(D("0.1199")), MAR)
    # a fixed monthly fee weighs most on the smallest loan: 10 yuan a month on 100 yuan
    fee = plain.with_terms(annual_rate=D("0.06"), instalment_fee_fixed=1000)
    refusal = offer_refusal(fee, RateCap(D("0.24")), MAR)
    assert refusal is not None and "annualised cost" in refusal
    assert offer_refusal(fee.with_terms(min_principal=10_000_00), RateCap(D("0.24")), MAR) \
        is None


@settings(max_examples=200, deadline=None)
@given(starts=st.lists(st.integers(0, 60), min_size=1, max_size=8),
       lprs=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 50)), max_size=6),
       day=st.integers(-5, 70))
def test_exactly_the_latest_version_and_lpr_on_or_before_the_day_apply(starts, lprs, day):
    base = date(2026, 1, 1)
    versions = [multiple(i + 1, base + timedelta(days=s), str(1 + i % 4))
                for i, s in enumerate(starts)]
    published = [LprPublication(i + 1, D(bp) / 10_000 + D("0.02"), FEB, FEB + timedelta(days=s))
                 for i, (s, bp) in enumerate(lprs)]
    schedule = CapSchedule(reversed(versions), reversed(published))
    on = base + timedelta(days=day)
    in_force = [v for v in versions if v.effective_from <= on]
    usable = [p for p in published if p.effective_from <= on]
    if not in_force or not usable:
        with pytest.raises(NoRateCapInForce):
            schedule.cap_in_force(on)
        return
    cap = schedule.cap_in_force(on)
    v = next(v for v in versions if v.version == cap.provenance.version)
    p = next(p for p in published if p.id == cap.provenance.lpr_id)
    assert v.effective_from <= on and p.effective_from <= on
    # nothing took effect later (on or before the day), nor later recorded on the same date
    assert not [w for w in in_force if (w.effective_from, w.version) > (v.effective_from,
                                                                         v.version)]
    assert not [q for q in usable if (q.effective_from, q.id) > (p.effective_from, p.id)]
    assert cap.annual_limit == v.multiple * p.rate
