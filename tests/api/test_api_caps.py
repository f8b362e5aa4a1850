"""The rate cap setting through the API: admin only, validated, idempotent, and in force from
its effective date for products, decisions and offers."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from puhui.services.clock import at_business_date

START = date(2026, 3, 2)  # the api fixture's business date
TOMORROW = START + timedelta(days=1)
GRADE_C = 2_000_000  # 20,000 yuan a month: the default policy's grade C, priced at 14.4%


def lpr_four_times_from_tomorrow(api: Any) -> None:
    r = api.post("/v1/rate-caps/lpr", {"rate": "0.0300", "published_on": "2026-02-20"}, "admin")
    assert r.status_code == 201, r.text
    assert r.json()["effective_from"] == START.isoformat()  # published earlier: from today
    r = api.post("/v1/rate-caps/versions", {"kind": "lpr_multiple", "multiple": "4",
                                            "effective_from": TOMORROW.isoformat(),
                                            "note": "lender's board decision"}, "admin")
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.json()["recorded_by"]


def apply(api: Any, revenue: int, amount: int = 5_000_000, product: str = "SME-EI-12"
          ) -> tuple[Any, str]:
    """Apply for a business the default policy grades by `revenue` alone (one trading long
    enough; the synthetic ones vary): the answer and the business's bound account."""
    for _ in range(50):
        applicant_id, account_id, body = api.onboard(monthly_revenue=revenue)
        established = body.get("established_on")
        if established and date.fromisoformat(established) <= START - timedelta(days=366):
            break
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": product,
                                      "amount": amount, "submit": True})
    return r, account_id


def test_the_seeded_cap_is_shown_to_admins_only(api: Any) -> None:
    r = api.get("/v1/rate-caps", "admin")
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["in_force"]["annual_limit"] == "0.24"
    assert view["in_force"]["provenance"]["version"] == 1
    assert [v["version"] for v in view["versions"]] == [1] and view["lpr_publications"] == []
    assert view["products_not_offered"] == {}
    for who in ("partner", "officer", "readonly"):
        assert api.get("/v1/rate-caps", who).status_code == 403
        r = api.post("/v1/rate-caps/lpr", {"rate": "0.03", "published_on": "2026-02-20"}, who)
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
    assert api.get("/v1/rate-caps", "admin").json()["lpr_publications"] == []
    assert api.get("/v1/rate-caps?on=2000-01-01", "admin").json()["in_force"] is not None
    assert api.get("/v1/rate-caps?on=1999-12-31", "admin").status_code == 422
    assert api.get("/v1/rate-caps?on=9999-12-31", "admin").status_code == 422
    assert api.get("/v1/rate-caps?on=yesterday", "admin").status_code == 422


def test_bad_or_retroactive_settings_are_problems_and_change_nothing(api: Any) -> None:
    bad = [
        ("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0.24",
                                    "effective_from": (START - timedelta(days=1)).isoformat()}),
        ("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0.37",
                                    "effective_from": TOMORROW.isoformat()}),
        ("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0",
                                    "effective_from": TOMORROW.isoformat()}),
        ("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0.2x",
                                    "effective_from": TOMORROW.isoformat()}),
        ("/v1/rate-caps/versions", {"kind": "fixed", "multiple": "4",
                                    "effective_from": TOMORROW.isoformat()}),
        ("/v1/rate-caps/versions", {"kind": "lpr_multiple", "multiple": "11",
                                    "effective_from": TOMORROW.isoformat()}),
        ("/v1/rate-caps/versions", {"kind": "lpr_multiple", "multiple": "0.5",
                                    "effective_from": TOMORROW.isoformat()}),
        ("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0.2",
                                    "effective_from": (START + timedelta(days=367)).isoformat()}),
        ("/v1/rate-caps/lpr", {"rate": "0.03", "published_on": TOMORROW.isoformat()}),
        ("/v1/rate-caps/lpr", {"rate": "0.25", "published_on": "2026-02-20"}),
        ("/v1/rate-caps/lpr", {"rate": "0.03", "published_on": "2019-07-22"}),
        ("/v1/rate-caps/lpr", {"rate": "0.03", "published_on": "2026-02-20",
                               "effective_from": "2026-02-20"}),
    ]
    for path, body in bad:
        r = api.post(path, body, "admin")
        assert r.status_code == 422, (body, r.text)
        assert r.json()["type"] in ("/problems/invalid-rate-cap", "/problems/validation-error"), r.text
    r = api.post("/v1/rate-caps/versions", {"kind": "percent", "rate": "0.2",
                                            "effective_from": TOMORROW.isoformat()}, "admin")
    assert r.status_code == 422
    view = api.get("/v1/rate-caps", "admin").json()
    assert [v["version"] for v in view["versions"]] == [1] and view["lpr_publications"] == []


def test_dates_given_as_numbers_are_refused_never_read_as_timestamps(api: Any) -> None:
    """A date is "YYYY-MM-DD" text: a Unix timestamp for tomorrow (an integer) was read as
    tomorrow and recorded a cap version; 0 or "0" was read as 1970-01-01."""
    tomorrow = int(datetime.combine(TOMORROW, time(), timezone.utc).timestamp())
    bad = [
        ("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0.2", "effective_from": tomorrow}),
        ("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0.2",
                                    "effective_from": str(tomorrow)}),
        ("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0.2", "effective_from": 0}),
        ("/v1/rate-caps/lpr", {"rate": "0.03", "published_on": tomorrow - 86_400 * 10}),
        ("/v1/rate-caps/lpr", {"rate": "0.03", "published_on": "0"}),
        ("/v1/rate-caps/lpr", {"rate": "0.03", "published_on": "2026-02-20",
                               "effective_from": tomorrow}),
    ]
    for path, body in bad:
        r = api.post(path, body, "admin")
        assert r.status_code == 422, (body, r.text)
        assert r.json()["type"] == "/problems/validation-error", r.text
        assert "1970" not in r.text
    view = api.get("/v1/rate-caps", "admin").json()
    assert [v["version"] for v in view["versions"]] == [1] and view["lpr_publications"] == []
    r = api.post("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0.2",
                                            "effective_from": TOMORROW.isoformat()}, "admin")
    assert r.status_code == 201, r.text


def test_a_version_in_force_today_is_not_rewritten(api: Any) -> None:
    body = {"kind": "fixed", "rate": "0.20", "effective_from": START.isoformat()}
    assert api.post("/v1/rate-caps/versions", body, "admin").status_code == 201
    r = api.post("/v1/rate-caps/versions", {**body, "rate": "0.18"}, "admin")
    assert r.status_code == 422 and "in force took effect on 2026-03-02" in r.json()["detail"]
    r = api.post("/v1/rate-caps/versions", {**body, "rate": "0.18",
                                            "effective_from": TOMORROW.isoformat()}, "admin")
    assert r.status_code == 201
    assert api.get("/v1/rate-caps", "admin").json()["in_force"]["annual_limit"] == "0.2"


def test_posts_are_idempotent(api: Any) -> None:
    body = {"rate": "0.0300", "published_on": "2026-02-20"}
    first = api.post("/v1/rate-caps/lpr", body, "admin", key="lpr-feb")
    again = api.post("/v1/rate-caps/lpr", body, "admin", key="lpr-feb")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    assert len(api.get("/v1/rate-caps", "admin").json()["lpr_publications"]) == 1
    r = api.post("/v1/rate-caps/lpr", {**body, "rate": "0.031"}, "admin", key="lpr-feb")
    assert r.status_code == 422


def test_grades_priced_above_four_times_the_lpr_are_not_offered_from_its_effective_date(
        api: Any) -> None:
    lpr_four_times_from_tomorrow(api)
    # the day before: 24% applies, grade C is offered at 14.4%
    r, account = apply(api, GRADE_C)
    assert r.status_code == 201 and r.json()["status"] == "offered", r.text
    assert r.json()["decision"]["annual_rate"] == "0.144"
    assert r.json()["offer"]["rate_cap"]["provenance"]["version"] == 1
    before, before_account = r.json(), account
    api.clock.set(at_business_date(TOMORROW))
    view = api.get("/v1/rate-caps", "admin").json()
    assert view["in_force"]["annual_limit"] == "0.12"
    assert view["in_force"]["provenance"] == {
        "version": 2, "kind": "lpr_multiple", "effective_from": TOMORROW.isoformat(),
        "rate": None, "multiple": "4", "lpr_id": 1, "lpr_rate": "0.03",
        "lpr_published_on": "2026-02-20", "lpr_effective_from": START.isoformat()}
    # on the effective date: grade C at 14.4% is declined, with the cap named
    r, account = apply(api, GRADE_C)
    assert r.status_code == 201 and r.json()["status"] == "declined", r.text
    reasons = r.json()["decision"]["reasons"]
    assert [x["code"] for x in reasons] == ["RATE_CAP"]
    assert "14.40% is above the 4x one-year LPR rate cap (LPR 3% published 2026-02-20)" in \
        reasons[0]["message"]
    # the offer made the day before at 14.4% cannot be accepted under the new cap
    r = api.post(f"/v1/applications/{before['application_id']}/accept",
                 {"account_id": before_account})
    assert r.status_code == 422 and r.json()["type"] == "/problems/rate-cap-exceeded", r.text
    assert "above the 4x one-year LPR rate cap" in r.json()["detail"]
    assert api.get(f"/v1/applications/{before['application_id']}").json()["status"] == "offered"
    # grade B at 10.8% is offered, the offer naming the cap it was checked against
    r, account = apply(api, 4_000_000)
    assert r.status_code == 201 and r.json()["status"] == "offered", r.text
    offer = r.json()["offer"]
    assert offer["rate_cap"]["annual_limit"] == "0.12"
    assert offer["rate_cap"]["provenance"]["lpr_id"] == 1
    assert float(offer["apr"]) <= 0.12
    r = api.post(f"/v1/applications/{r.json()['application_id']}/accept",
                 {"account_id": account})
    assert r.status_code == 201, r.text


def test_a_product_above_the_cap_in_force_is_not_offered_and_says_why(api: Any) -> None:
    r = api.post("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0.10",
                                            "effective_from": TOMORROW.isoformat()}, "admin")
    assert r.status_code == 201
    items = {p["code"]: p for p in api.get("/v1/products").json()["items"]}
    assert items["SME-EP-6"]["offered"] is True
    applicant_id, _, _ = api.onboard(monthly_revenue=4_000_000)
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "SME-EP-6",
                                      "amount": 5_000_000})
    assert r.status_code == 201 and r.json()["status"] == "draft"
    draft = r.json()["application_id"]
    api.clock.set(at_business_date(TOMORROW))
    listed = api.get("/v1/products").json()
    items = {p["code"]: p for p in listed["items"]}
    assert listed["rate_cap"]["annual_limit"] == "0.1"
    assert items["SME-EP-6"]["offered"] is False
    assert "nominal rate 12.0000% is above the 10% fixed rate cap" in \
        items["SME-EP-6"]["not_offered_reason"]
    assert items["SME-BUL-90"]["offered"] is True
    view = api.get("/v1/rate-caps", "admin").json()
    assert set(view["products_not_offered"]) == {c for c, p in items.items() if not p["offered"]}
    # neither a new application nor the earlier draft goes ahead on it
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "SME-EP-6",
                                      "amount": 5_000_000, "submit": True})
    assert r.status_code == 422 and r.json()["type"] == "/problems/rate-cap-exceeded"
    r = api.post(f"/v1/applications/{draft}/submit")
    assert r.status_code == 422 and r.json()["type"] == "/problems/rate-cap-exceeded"
    assert api.get(f"/v1/applications/{draft}").json()["status"] == "draft"


def test_an_approval_whose_fees_take_its_cost_above_the_cap_is_declined_not_offered(
        api: Any) -> None:
    # grade B's 10.8% is within an 11.01% cap, but SME-EI-12 withholds a 0.5% upfront fee and
    # starts with a 17-day broken period: the whole cost is 11.8157% a year
    r = api.post("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0.1101",
                                            "effective_from": TOMORROW.isoformat()}, "admin")
    assert r.status_code == 201
    api.clock.set(at_business_date(TOMORROW))
    r, account = apply(api, 4_000_000)
    assert r.status_code == 201 and r.json()["status"] == "declined", r.text
    assert r.json()["offer"] is None
    reasons = r.json()["decision"]["reasons"]
    assert reasons[-1]["code"] == "RATE_CAP"
    assert "annualised cost (IRR, fees included) 11.8157%" in reasons[-1]["message"]
    assert "11.0100%" in reasons[-1]["message"]


def test_an_offer_at_the_cap_is_accepted_though_its_rounded_apr_shows_a_hair_above(
        api: Any) -> None:
    # grade B is priced at 10.8%; the fee-free 90-day bullet's interest on 10,000.19 yuan,
    # 270.005130 yuan, rounds up to the fen, so the disclosed APR is 10.800195%: within the cap
    # by the exact-schedule rule, at the offer and again at acceptance under a 10.8% cap
    r = api.post("/v1/rate-caps/versions", {"kind": "fixed", "rate": "0.108",
                                            "effective_from": TOMORROW.isoformat()}, "admin")
    assert r.status_code == 201
    api.clock.set(at_business_date(TOMORROW))
    r, account = apply(api, 4_000_000, amount=1_000_019, product="SME-BUL-90")
    assert r.status_code == 201 and r.json()["status"] == "offered", r.text
    offer = r.json()["offer"]
    assert offer["rate_cap"]["annual_limit"] == "0.108"
    assert Decimal(offer["apr"]) > Decimal("0.108")
    r = api.post(f"/v1/applications/{r.json()['application_id']}/accept",
                 {"account_id": account})
    assert r.status_code == 201, r.text
