"""Pagination, scoping of lists, products, consent expiry and the documented API surface."""

from __future__ import annotations

from datetime import timedelta


def test_pages_follow_the_cursor_and_stay_in_scope(api) -> None:
    ids = {api.onboard(scopes=())[0] for _ in range(5)}
    api.onboard(scopes=(), who="other")
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/applicants", params=params).json()
        seen += [a["applicant_id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and set(seen) == ids  # the other partner's applicant is not here
    assert api.get("/v1/applicants", params={"limit": 0}).status_code == 422
    assert api.get("/v1/applicants", params={"limit": 500}).status_code == 422


def test_identity_numbers_are_masked_in_views(api) -> None:
    applicant_id, _, body = api.onboard(scopes=())
    view = api.get(f"/v1/applicants/{applicant_id}").json()
    assert body["owner"]["resident_id"] not in str(view)
    assert view["owner"]["resident_id"].startswith(body["owner"]["resident_id"][:6])
    assert "*" in view["owner"]["resident_id"]


def test_products_disclose_an_example_cost(api) -> None:
    items = api.get("/v1/products").json()["items"]
    assert items and all(float(p["example"]["apr"]) > 0 for p in items)
    assert all(p["example"]["apr_convention"] == "irr-unit-period/v2" for p in items)
    assert all(p["method"] != "revolving" for p in items)


def test_revolving_products_are_applied_for_as_credit_lines(api) -> None:
    """A revolving product's offer discloses the cost of its representative draw (the whole
    amount for the whole term, docs/lines.md); the contract grants a line, never a payout."""
    applicant_id, _, _ = api.onboard()
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "SME-RV-180",
                                      "amount": 5_000_000, "submit": True})
    assert r.status_code == 201 and r.json()["status"] == "offered", r.text
    offer = r.json()["offer"]
    assert offer["product"]["code"] == "SME-RV-180" and len(offer["schedule"]) == 1
    assert float(offer["apr"]) > 0
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "NOPE",
                                      "amount": 5_000_000})
    assert r.status_code == 404
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "SME-EI-12",
                                      "amount": 50})  # below the product's minimum
    assert r.status_code == 422


def test_expired_consent_is_refused(api) -> None:
    applicant_id, _, _ = api.onboard(scopes=())
    r = api.post(f"/v1/applicants/{applicant_id}/consents",
                 {"purpose": "credit_assessment", "scopes": ["identity"], "valid_days": 1})
    assert r.status_code == 201
    api.clock.advance(timedelta(days=2))
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "SME-EI-12",
                                      "amount": 5_000_000, "submit": True})
    assert r.status_code == 409 and r.json()["type"] == "/problems/consent-expired"
    consents = api.get(f"/v1/applicants/{applicant_id}/consents").json()["items"]
    assert [c["status"] for c in consents] == ["expired"]


def test_draft_then_submit_and_the_declined_path(api) -> None:
    applicant_id, _, _ = api.onboard(monthly_revenue=500_000)  # below the policy's minimum
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "SME-EI-12",
                                      "amount": 5_000_000})
    assert r.status_code == 201 and r.json()["status"] == "draft"
    r = api.post(f"/v1/applications/{r.json()['application_id']}/submit")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "declined" and r.json()["offer"] is None
    assert r.json()["decision"]["reasons"][0]["code"] == "LOW_REVENUE"


def test_openapi_documents_auth_idempotency_and_every_route(api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "Idempotency-Key" in spec["info"]["description"]
    assert all(path.startswith(("/v1/", "/health")) for path in spec["paths"])
    assert api.client.get("/docs").status_code == 200


def test_a_borrower_key_sees_and_accepts_only_its_own_application(api) -> None:
    mine = api.offered()
    theirs = api.offered()
    r = api.post("/v1/api-keys", {"name": "owner app", "role": "borrower",
                                  "subject": mine["applicant_id"]}, who="admin")
    assert r.status_code == 201, r.text
    api.keys["borrower"] = r.json()["token"]
    listed = api.get("/v1/applications", who="borrower").json()["items"]
    assert [a["application_id"] for a in listed] == [mine["application_id"]]
    assert api.get(f"/v1/applications/{theirs['application_id']}", who="borrower").status_code == 404
    r = api.post(f"/v1/applications/{mine['application_id']}/accept",
                 {"account_id": mine["account_id"]}, who="borrower")
    assert r.status_code == 201, r.text
    assert api.post("/v1/applicants", {}, who="borrower").status_code == 422  # body first
    assert api.post(f"/v1/contracts/{r.json()['contract_id']}/disbursements",
                    {"mode": "bound_account"}, who="borrower").status_code == 403
