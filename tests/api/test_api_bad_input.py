"""Bad input on every endpoint answers 4xx problem details, changes nothing, and never 500s."""

from __future__ import annotations

import re

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from puhui.money import MAX_AMOUNT
from puhui.store.models import Base

PROBLEM = "application/problem+json"


def counts(api) -> dict[str, int]:
    """Rows per table: the evidence that a refused request wrote nothing."""
    with api.platform.read() as session:
        return {name: session.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in Base.metadata.tables.items()}


def post_paths(api) -> list[str]:
    spec = api.client.get("/openapi.json").json()
    return [path for path, ops in spec["paths"].items() if "post" in ops]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "X0000000000", path)


def assert_problem(r, *statuses: int) -> None:
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == r.status_code and body["title"] and body["type"]


def test_every_post_refuses_malformed_json_and_wrong_types(api) -> None:
    application = api.signed()
    before = counts(api)
    paths = post_paths(api)
    assert len(paths) >= 15
    real = {"applicant_id": application["applicant_id"],
            "application_id": application["application_id"],
            "contract_id": application["contract"]["contract_id"], "loan_id": "LN-missing",
            "consent_id": "CS-missing", "key_id": "K-missing"}
    for template in paths:
        path = re.sub(r"\{([^}]+)\}", lambda m: real.get(m.group(1), "X0"), template)
        headers = {**api.headers("admin"), "Idempotency-Key": f"bad-{template}",
                   "Content-Type": "application/json"}
        r = api.client.post(path, content=b'{"amount": 12,', headers=headers)
        assert_problem(r, 400, 404, 409, 422)
        for body in ([], "text", 12, {"amount": "100"}, {"unexpected": True}, None):
            r = api.client.post(path, json=body, headers=headers)
            assert 400 <= r.status_code < 500, (template, body, r.status_code, r.text)
            assert r.headers["content-type"].startswith(PROBLEM)
    assert counts(api) == before


def test_a_body_no_parser_accepts_is_malformed_json_and_the_connection_goes_on(api) -> None:
    """A 5,000-digit number is beyond what the JSON parser converts: the same problem as any
    other unparseable body, not an untyped 400."""
    loan_id = api.disbursed()["disbursement"]["loan_id"]
    before = counts(api)
    for body in (b'{"amount": ' + b"9" * 5000 + b"}", b'{"amount": 12,'):
        r = api.client.post(f"/v1/loans/{loan_id}/repayments", content=body,
                            headers={**api.headers(), "Idempotency-Key": "huge",
                                     "Content-Type": "application/json"})
        assert_problem(r, 400)
        assert r.json()["type"] == "/problems/malformed-json", r.text
    assert counts(api) == before
    assert api.get(f"/v1/loans/{loan_id}").status_code == 200


def test_unknown_ids_are_404_everywhere(api) -> None:
    spec = api.client.get("/openapi.json").json()
    for template, ops in spec["paths"].items():
        if "{" not in template:
            continue
        path = concrete(template)
        if "get" in ops:
            assert_problem(api.client.get(path, headers=api.headers("admin")), 404)


def test_invalid_identity_numbers_are_422(api) -> None:
    from puhui.parties.synthetic import small_business

    before = counts(api)
    cases = [(("owner", "resident_id"), "110101198503071230"),
             (("owner", "resident_id"), "110101198502301234"),
             (("owner", "mobile"), "12345"),
             (("uscc",), "91110108MA01234567"),
             (("monthly_revenue",), -5),
             (("monthly_revenue",), 12.5),
             (("kind",), "sole_trader")]
    for path, value in cases:
        body = small_business(api.rng, api.clock.now().date()).to_dict()
        target = body
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        assert_problem(api.post("/v1/applicants", body), 422)
    assert counts(api) == before


def test_bank_card_failing_luhn_or_in_another_name_is_refused_and_kept_as_evidence(api) -> None:
    applicant_id, _, body = api.onboard(scopes=("identity", "bank_account"))
    r = api.post(f"/v1/applicants/{applicant_id}/bank-accounts",
                 {"card_number": "6222021000000000010", "holder_name": body["owner"]["name"]})
    assert_problem(r, 422)
    from puhui.parties.synthetic import bank_card

    r = api.post(f"/v1/applicants/{applicant_id}/bank-accounts",
                 {"card_number": bank_card(api.rng), "holder_name": "李四"})
    assert_problem(r, 422)
    checks = api.get(f"/v1/applicants/{applicant_id}/identity-checks").json()["items"]
    assert [c["passed"] for c in checks if c["kind"] == "bank_card"] == [True, False]


def test_missing_expired_and_revoked_consent_stop_the_application(api) -> None:
    applicant_id, _, _ = api.onboard(scopes=())
    body = {"applicant_id": applicant_id, "product_code": "SME-EI-12", "amount": 5_000_000,
            "submit": True}
    before = counts(api)
    r = api.post("/v1/applications", body)
    assert_problem(r, 409)
    assert r.json()["type"] == "/problems/consent-missing"
    after = counts(api)
    assert after["applications"] == before["applications"]
    assert after["consent_log"] == before["consent_log"] + 1  # the refusal is recorded
    consent = api.post(f"/v1/applicants/{applicant_id}/consents",
                       {"purpose": "credit_assessment", "scopes": ["identity"]}).json()
    r = api.post(f"/v1/applicants/{applicant_id}/consents/{consent['consent_id']}/revoke")
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    r = api.post("/v1/applications", body)
    assert r.json()["type"] == "/problems/consent-revoked"
    log = api.get(f"/v1/applicants/{applicant_id}/consent-log").json()["items"]
    assert [e["action"] for e in log] == ["refused", "granted", "revoked", "refused"]


def test_wrong_role_and_foreign_partner_are_refused(api) -> None:
    application = api.offered()
    application_id = application["application_id"]
    assert_problem(api.client.get(f"/v1/applications/{application_id}"), 401)
    assert_problem(api.client.get(f"/v1/applications/{application_id}",
                                  headers={"Authorization": "Bearer phk_nope_nope"}), 401)
    assert_problem(api.client.get(f"/v1/applications/{application_id}",
                                  headers={"Authorization": "Basic abc"}), 401)
    assert_problem(api.get(f"/v1/applications/{application_id}", who="other"), 404)
    assert application_id not in [a["application_id"] for a in
                                  api.get("/v1/applications", who="other").json()["items"]]
    assert_problem(api.post(f"/v1/applications/{application_id}/accept",
                            {"account_id": application["account_id"]}, who="readonly"), 403)
    assert_problem(api.post(f"/v1/applications/{application_id}/accept",
                            {"account_id": application["account_id"]}, who="officer"), 403)
    assert_problem(api.post("/v1/operations/end-of-day", {}, who="partner"), 403)
    assert_problem(api.post("/v1/api-keys", {"name": "x", "role": "admin"}, who="partner"), 403)


def test_revoked_key_stops_working(api) -> None:
    r = api.post("/v1/api-keys", {"name": "temp", "role": "partner", "subject": "P-T"}, who="admin")
    assert r.status_code == 201, r.text
    token, key_id = r.json()["token"], r.json()["key_id"]
    ok = api.client.get("/v1/applications", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert api.post(f"/v1/api-keys/{key_id}/revoke", who="admin").status_code == 200
    assert_problem(api.client.get("/v1/applications",
                                  headers={"Authorization": f"Bearer {token}"}), 401)


def test_idempotency_key_replays_and_refuses_a_different_body(api) -> None:
    applicant_id, _, _ = api.onboard()
    body = {"applicant_id": applicant_id, "product_code": "SME-EI-12", "amount": 5_000_000}
    first = api.post("/v1/applications", body, key="same")
    again = api.post("/v1/applications", body, key="same")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    before = counts(api)
    r = api.post("/v1/applications", {**body, "amount": 6_000_000}, key="same")
    assert_problem(r, 422)
    assert r.json()["type"] == "/problems/idempotency-key-reused"
    assert counts(api) == before


def test_repayment_requires_an_idempotency_key_and_never_takes_money_twice(api) -> None:
    application = api.disbursed()
    loan_id = application["disbursement"]["loan_id"]
    assert_problem(api.post(f"/v1/loans/{loan_id}/repayments", {"amount": 1000}, key=None), 422)
    first = api.post(f"/v1/loans/{loan_id}/repayments", {"amount": 100_000}, key="r1")
    after_first = counts(api)
    second = api.post(f"/v1/loans/{loan_id}/repayments", {"amount": 100_000}, key="r1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and counts(api) == after_first
    assert_problem(api.post(f"/v1/loans/{loan_id}/repayments", {"amount": 0}, key="r2"), 422)
    assert_problem(api.post(f"/v1/loans/{loan_id}/repayments", {"amount": 10.5}, key="r3"), 422)


def test_illegal_transitions_are_409(api) -> None:
    application = api.offered()
    application_id = application["application_id"]
    assert_problem(api.post(f"/v1/applications/{application_id}/submit"), 409)
    r = api.post(f"/v1/applications/{application_id}/withdraw", {"reason": "changed my mind"})
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert_problem(api.post(f"/v1/applications/{application_id}/accept",
                            {"account_id": application["account_id"]}), 409)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["kind", "owner", "amount", "applicant_id", "product_code", "name",
                         "resident_id", "mobile", "scopes", "purpose", "submit"]), inner,
        max_size=6), max_leaves=12))
def test_random_json_never_causes_a_server_error(api, body) -> None:
    for path in ("/v1/applicants", "/v1/applications"):
        r = api.post(path, body, key=None)
        assert r.status_code < 500, r.text


@pytest.mark.parametrize("amount", [MAX_AMOUNT + 1, 117001735671997202956288])
def test_an_absurd_repayment_is_refused_before_the_ledger(api, amount) -> None:
    """Found by the schemathesis run: a repayment beyond 64 bits reached the ledger's INSERT
    and failed there with a 500."""
    loan_id = api.disbursed()["disbursement"]["loan_id"]
    before = counts(api)
    r = api.post(f"/v1/loans/{loan_id}/repayments", {"amount": amount}, key="absurd")
    assert_problem(r, 422)
    assert r.json()["type"] == "/problems/validation-error"
    assert r.json()["errors"][0]["loc"] == ["body", "amount"]
    assert counts(api) == before
    # the bound itself passes the schema; the payoff rule refuses it, and nothing is written
    r = api.post(f"/v1/loans/{loan_id}/repayments", {"amount": MAX_AMOUNT}, key="large")
    assert_problem(r, 422)
    assert r.json()["type"] != "/problems/validation-error", r.text
    assert counts(api) == before


def test_an_establishment_date_ahead_of_today_or_before_1900_is_refused(api) -> None:
    """A business established in 2099 (or in the year 1) was registered; its age feeds the
    policy's BUSINESS_TOO_YOUNG rule."""
    from datetime import timedelta

    from puhui.parties.synthetic import small_business
    from puhui.services.clock import business_date

    today = business_date(api.clock)
    body = small_business(api.rng, today).to_dict()
    before = counts(api)
    for bad in ((today + timedelta(days=1)).isoformat(), "2099-01-01", "0001-01-01",
                "1899-12-31"):
        r = api.post("/v1/applicants", {**body, "established_on": bad})
        assert_problem(r, 422)
        assert "established_on" in r.json()["detail"], r.text
    assert counts(api) == before
    for good in (today.isoformat(), "1900-01-01"):
        r = api.post("/v1/applicants", {**body, "established_on": good})
        assert r.status_code == 201, r.text
