"""The OpenAPI document follows the API's conventions (docs/api.md), for every route, including
routes added later: an operation id, a response model, problem details on every error, the
Idempotency-Key on POSTs only, security declared once."""

from __future__ import annotations

import re

import jsonschema_rs
import pytest

from puhui.api import examples as ex

PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture
def spec(api) -> dict:
    return api.client.get("/openapi.json").json()


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_every_operation_declares_id_model_and_problems(spec) -> None:
    ids = []
    for path, method, op in _operations(spec):
        where = f"{method.upper()} {path}"
        assert re.fullmatch(r"[a-z][A-Za-z]+", op.get("operationId", "")), where
        ids.append(op["operationId"])
        assert op.get("summary") and op.get("tags"), where
        success = [code for code in op["responses"] if code.startswith("2")]
        assert len(success) == 1, where
        body = op["responses"][success[0]]["content"]["application/json"]["schema"]
        assert set(body) == {"$ref"}, f"{where} declares no response model"
        errors = {code: r for code, r in op["responses"].items() if code[0] in "45"}
        assert "503" in errors, where
        if path != "/health":
            assert {"401", "422"} <= set(errors), where
        for code, response in errors.items():
            assert response["content"] == {"application/problem+json": {"schema": PROBLEM}}, \
                f"{where} {code}"
    assert len(ids) == len(set(ids))
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_security_is_declared_once_and_the_key_is_not_a_parameter(spec) -> None:
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <API key>`"}
    assert spec["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    assert spec["security"] == [{"bearer": []}, {"apiKey": []}]
    for path, method, op in _operations(spec):
        names = {p.get("name", "").lower() for p in op.get("parameters", [])}
        assert not names & {"authorization", "x-api-key"}, f"{method} {path}"
    assert spec["paths"]["/health"]["get"]["security"] == []


def test_idempotency_key_on_posts_only_and_required_where_money_moves(spec) -> None:
    shared = spec["components"]["parameters"]
    for name, required in (("IdempotencyKey", False), ("IdempotencyKeyRequired", True)):
        assert shared[name]["name"] == "Idempotency-Key" and shared[name]["in"] == "header"
        assert shared[name]["required"] is required
        assert shared[name]["schema"]["maxLength"] == 200
        assert shared[name]["schema"]["minLength"] == 1
    for path, method, op in _operations(spec):
        params = op.get("parameters", [])
        assert all(p.get("name") != "Idempotency-Key" for p in params), path  # only by $ref
        refs = [p["$ref"].rsplit("/", 1)[1] for p in params if "$ref" in p]
        if method == "get":
            assert not refs, f"GET {path} offers an Idempotency-Key"
            continue
        money = path in ("/v1/loans/{loan_id}/repayments", "/v1/loans/{loan_id}/refunds",
                         "/v1/lines/{line_id}/draws", "/v1/lines/{line_id}/changes",
                         "/v1/loans/{loan_id}/servicing-requests",
                         "/v1/servicing-requests/{request_id}/approve",
                         "/v1/servicing-requests/{request_id}/reject")
        assert refs == ["IdempotencyKeyRequired" if money else "IdempotencyKey"], path
        success = [r for c, r in op["responses"].items() if c.startswith("2")][0]
        assert "Idempotent-Replayed" in success["headers"], path


def test_scopes_purposes_and_statuses_are_enums(spec) -> None:
    schemas = spec["components"]["schemas"]
    assert set(schemas["DataScope"]["enum"]) >= {"identity", "bank_account", "tax", "bureau"}
    assert schemas["ConsentIn"]["properties"]["scopes"]["items"] == {
        "$ref": "#/components/schemas/DataScope"}
    for name in ("Purpose", "ApplicationStatus", "LoanStatus", "RiskClass", "Role", "Perm",
                 "PayoutMode", "IdentityKind", "Outcome", "CapKind"):
        assert schemas[name]["type"] == "string" and schemas[name]["enum"], name
    assert "read_personal" in schemas["Perm"]["enum"]
    assert schemas["ApiKeyIn"]["properties"]["scopes"]["anyOf"][0]["items"] == {
        "$ref": "#/components/schemas/Perm"}
    assert schemas["RateCapVersionIn"]["properties"]["kind"] == {
        "$ref": "#/components/schemas/CapKind"}
    assert set(schemas["AccessLogEntry"]["properties"]["action"]["enum"]) == {
        "full_read", "export", "erasure", "erasure_refused"}
    assert schemas["Offer"]["properties"]["apr_convention"]["enum"] == [
        "irr-per-instalment/v1", "irr-unit-period/v2"]
    assert schemas["Consent"]["properties"]["status"]["enum"] == [
        "active", "revoked", "expired", "not_yet_valid"]


def test_every_request_amount_declares_the_one_bound(spec) -> None:
    """Amounts in bodies are bounded by MAX_AMOUNT (puhui/money.py), and the document says so."""
    from puhui.money import MAX_AMOUNT

    schemas = spec["components"]["schemas"]
    fields = {("ApplicantIn", "monthly_revenue"), ("ApplicationIn", "amount"),
              ("ReviewIn", "amount"), ("RepaymentIn", "amount"), ("RefundIn", "amount"),
              ("DrawIn", "amount"), ("LineChangeIn", "limit"),
              ("ContactAttemptIn", "promise_amount"), ("PromiseIn", "amount"),
              ("RestructuringIn", "affordable_instalment")}
    for name, field in fields:
        prop = schemas[name]["properties"][field]
        [integer] = [s for s in prop.get("anyOf", [prop]) if s.get("type") == "integer"]
        assert integer["maximum"] == MAX_AMOUNT == 10**10, (name, field)
    found = {(name, field) for name, schema in schemas.items() if name.endswith("In")
             for field, prop in schema.get("properties", {}).items()
             if any(s.get("type") == "integer" and "maximum" in s and s["maximum"] >= 10**6
                    for s in prop.get("anyOf", [prop]))}
    assert found == fields


def test_examples_are_valid(spec, api) -> None:
    """Each response example matches its schema; each request example is accepted."""
    def validator(name: str):
        return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}",
                                            "components": spec["components"]})
    for name, value in (("Applicant", ex.APPLICANT_OUT), ("Consent", ex.CONSENT_OUT),
                        ("BankAccount", ex.BANK_ACCOUNT_OUT), ("Application", ex.APPLICATION_OUT),
                        ("Repayment", ex.REPAYMENT_OUT),
                        ("RateCapVersion", ex.RATE_CAP_VERSION_OUT)):
        validator(name).validate(value)
    r = api.post("/v1/applicants", ex.APPLICANT_IN)
    assert r.status_code == 201, r.text
    applicant_id = r.json()["applicant_id"]
    r = api.post(f"/v1/applicants/{applicant_id}/consents", ex.CONSENT_IN)
    assert r.status_code == 201, r.text
    r = api.post(f"/v1/applicants/{applicant_id}/bank-accounts", ex.BANK_ACCOUNT_IN)
    assert r.status_code == 201, r.text
    r = api.post("/v1/applications", {**ex.APPLICATION_IN, "applicant_id": applicant_id})
    assert r.status_code == 201 and r.json()["status"] == "offered", r.text
    assert spec["paths"]["/v1/applicants"]["post"]["requestBody"]["content"][
        "application/json"]["schema"] == {"$ref": "#/components/schemas/ApplicantIn"}
    assert spec["components"]["schemas"]["ApplicantIn"]["examples"] == [ex.APPLICANT_IN]
    loan_id = api.disbursed()["disbursement"]["loan_id"]
    assert api.post(f"/v1/loans/{loan_id}/repayments", {"amount": 600_00}).status_code == 201
    r = api.post(f"/v1/loans/{loan_id}/refunds", ex.REFUND_IN, who="admin")
    assert r.status_code == 201 and r.json()["credit_balance"] == 100_00, r.text
    _conforms(spec, "post", "/v1/loans/{loan_id}/refunds", r)
    for path, body in (("/v1/rate-caps/lpr", ex.LPR_IN),
                       ("/v1/rate-caps/versions", ex.RATE_CAP_VERSION_IN)):
        r = api.post(path, body, who="admin")
        assert r.status_code == 201, r.text
        _conforms(spec, "post", path, r)


def test_405_allows_every_method_of_the_path(api) -> None:
    r = api.client.delete("/v1/applicants", headers=api.headers())
    assert r.status_code == 405
    assert r.headers["content-type"] == "application/problem+json"
    assert sorted(m.strip() for m in r.headers["allow"].split(",")) == ["GET", "POST"]
    r = api.client.put("/v1/loans/LN1/repayments", headers=api.headers())
    assert r.status_code == 405 and r.headers["allow"] == "POST"


@pytest.mark.parametrize("path", ["/v1/applicants", "/v1/applications", "/v1/loans"])
@pytest.mark.parametrize("cursor", ["x", "' OR 1=1 --", "AP01a24ebfc23e00088accd",
                                    "ap01a24ebfc23e00088accdd"])
def test_a_malformed_cursor_is_400_not_an_empty_page(api, path, cursor) -> None:
    r = api.get(path, params={"cursor": cursor})
    assert r.status_code == 400 and r.json()["type"] == "/problems/invalid-cursor", r.text


def test_a_well_formed_cursor_pages(api) -> None:
    first, _, _ = api.onboard()
    second, _, _ = api.onboard()
    page = api.get("/v1/applicants", params={"limit": 1}).json()
    assert [a["applicant_id"] for a in page["items"]] == [first]
    page = api.get("/v1/applicants", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert [a["applicant_id"] for a in page["items"]] == [second]


def _conforms(spec: dict, method: str, template: str, response) -> None:
    """`response` is one the document declares for `method template`, body and all."""
    op = spec["paths"][template][method]
    declared = op["responses"][str(response.status_code)]
    [(media, content)] = declared["content"].items()
    assert response.headers["content-type"] == media, (template, response.text)
    jsonschema_rs.validator_for({**content["schema"], "components": spec["components"]}) \
        .validate(response.json())


def test_risk_engine_answers_match_their_models(risk_api) -> None:
    """Decision records and replays exist only with the risk engine, which the schemathesis
    run does not start: their answers are checked against the document here."""
    from test_api_risk import _submit, _with_history

    spec = risk_api.client.get("/openapi.json").json()
    app = _submit(risk_api, _with_history(risk_api))
    base = "/v1/applications/{application_id}"
    for suffix in ("", "/history", "/decision-record", "/decision-record/replay"):
        r = risk_api.get(f"/v1/applications/{app['application_id']}{suffix}", who="admin")
        assert r.status_code == 200, r.text
        _conforms(spec, "get", base + suffix, r)
    r = risk_api.get(f"/v1/applicants/{app['applicant_id']}/consent-log")
    _conforms(spec, "get", "/v1/applicants/{applicant_id}/consent-log", r)
    assert {e["action"] for e in r.json()["items"]} >= {"granted", "used"}


def test_personal_data_answers_match_their_models(api, spec) -> None:
    """The full contract needs a key with read_personal, which the schemathesis run's admin key
    lacks: these answers are checked against the document here, erasure's both ways."""
    from puhui.services import access

    with api.platform.unit() as session:
        officer = access.issue_key(session, "officer", "credit_officer",
                                   perms=["read", "read_personal"]).token
    loan = api.disbursed()
    contract_id, applicant_id = loan["contract"]["contract_id"], loan["applicant_id"]
    r = api.client.get(f"/v1/contracts/{contract_id}/full", params={"reason": "audit 7"},
                       headers={"Authorization": f"Bearer {officer}"})
    assert r.status_code == 200 and r.json()["content_masked"] is False, r.text
    _conforms(spec, "get", "/v1/contracts/{contract_id}/full", r)
    masked = api.get(f"/v1/contracts/{contract_id}")
    assert masked.json()["content_masked"] is True
    _conforms(spec, "get", "/v1/contracts/{contract_id}", masked)
    for template, path in (("/v1/contracts/{contract_id}/verify",
                            f"/v1/contracts/{contract_id}/verify"),
                           ("/v1/applicants/{applicant_id}/export",
                            f"/v1/applicants/{applicant_id}/export"),
                           ("/v1/applicants/{applicant_id}/access-log",
                            f"/v1/applicants/{applicant_id}/access-log")):
        r = api.get(path, who="admin")
        assert r.status_code == 200, (path, r.text)
        _conforms(spec, "get", template, r)
    refused = api.post(f"/v1/applicants/{applicant_id}/erasure", {"reason": "asked"},
                       who="admin")
    assert refused.status_code == 409, refused.text  # the loan is open
    _conforms(spec, "post", "/v1/applicants/{applicant_id}/erasure", refused)
    draft, _, _ = api.onboard()
    for _ in range(2):  # erased, then already erased
        r = api.post(f"/v1/applicants/{draft}/erasure", {"reason": "asked"}, who="admin")
        assert r.status_code == 200, r.text
        _conforms(spec, "post", "/v1/applicants/{applicant_id}/erasure", r)
    assert r.json()["already_erased"] is True
    r = api.get(f"/v1/applicants/{draft}/export", who="admin")
    assert r.status_code == 200 and r.json()["applicant"] is None, r.text
    _conforms(spec, "get", "/v1/applicants/{applicant_id}/export", r)
