"""The served API is what its OpenAPI document says: schemathesis generates requests for every
operation (valid and invalid ones) and checks every answer with all its checks: no server error,
only declared status codes, content types and headers, bodies matching their schemas, invalid
input refused, valid input not refused for a reason the schema does not state, a key needed.

`make test` runs a bounded number of examples per operation; `make fuzz` (PUHUI_FUZZ_EXAMPLES)
runs the long version whose figures docs/reliability.md reports.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from puhui.api import create_app
from puhui.parties.synthetic import account_for, small_business
from puhui.services import access
from puhui.services.clock import ManualClock, at_business_date
from puhui.services.gateway import SandboxGateway
from puhui.services.platform import Platform

EXAMPLES = int(os.environ.get("PUHUI_FUZZ_EXAMPLES", "12"))
#: A schema cannot say that a resident ID's check digit is right or that a card number passes
#: Luhn: a body valid by the schema may still be refused with 422 (a problem naming the field).
CONFIG = SchemathesisConfig.from_dict({
    "checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]}},
})
_TOKENS: dict[str, str] = {}
KNOWN: dict[str, list[str]] = defaultdict(list)


def _served() -> schemathesis.schemas.BaseSchema:
    """The app on a fresh SQLite file, with an admin key (built at collection: schemathesis
    makes one test per operation from the document the app serves)."""
    workdir = Path(tempfile.mkdtemp(prefix="puhui-schema-"))
    atexit.register(shutil.rmtree, workdir, True)
    clock = ManualClock(at_business_date(date(2026, 3, 2)))
    platform = Platform.open(f"sqlite:///{workdir / 'puhui.sqlite'}", clock=clock,
                             gateway=SandboxGateway())
    atexit.register(platform.close)
    with platform.unit() as session:
        _TOKENS["admin"] = access.issue_key(session, "fuzz", "admin").token
        KNOWN["key_id"] = [access.issue_key(session, "spare", "partner", "P-FUZZ").key_id]
    app = create_app(platform)
    _seed(TestClient(app))
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


def _seed(client: TestClient) -> None:
    """A few records in every state, so that generated requests reach them and not only 404s:
    an applicant with a disbursed loan, one with a draft application."""
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {_TOKENS['admin']}"}

    def post(path: str, body: dict, key: str | None = None) -> dict:
        r = client.post(path, json=body,
                        headers={**headers, **({"Idempotency-Key": key} if key else {})})
        assert r.status_code in (200, 201), r.text
        return r.json()

    for submit in (True, False):
        applicant = small_business(rng, date(2026, 3, 2), monthly_revenue=8_000_000)
        applicant_id = post("/v1/applicants", applicant.to_dict())["applicant_id"]
        consent = post(f"/v1/applicants/{applicant_id}/consents",
                       {"purpose": "credit_assessment", "scopes": ["identity", "bank_account"]})
        card = account_for(rng, applicant)
        account = post(f"/v1/applicants/{applicant_id}/bank-accounts",
                       {"card_number": card.card_number, "holder_name": card.holder_name})
        application = post("/v1/applications", {"applicant_id": applicant_id, "amount": 5_000_000,
                                                 "product_code": "SME-EI-12", "submit": submit})
        KNOWN["applicant_id"].append(applicant_id)
        KNOWN["consent_id"].append(consent["consent_id"])
        KNOWN["application_id"].append(application["application_id"])
        if submit:
            contract = post(f"/v1/applications/{application['application_id']}/accept",
                            {"account_id": account["account_id"]})
            post(f"/v1/contracts/{contract['contract_id']}/sign",
                 {"content_hash": contract["content_hash"]})
            loan = post(f"/v1/contracts/{contract['contract_id']}/disbursements", {})
            KNOWN["contract_id"].append(contract["contract_id"])
            KNOWN["loan_id"].append(loan["loan_id"])
    # a revolving line, drawn once, so the line operations reach a real line and loan
    applicant = small_business(rng, date(2026, 3, 2), monthly_revenue=8_000_000)
    applicant_id = post("/v1/applicants", applicant.to_dict())["applicant_id"]
    post(f"/v1/applicants/{applicant_id}/consents",
         {"purpose": "credit_assessment", "scopes": ["identity", "bank_account"]})
    card = account_for(rng, applicant)
    account = post(f"/v1/applicants/{applicant_id}/bank-accounts",
                   {"card_number": card.card_number, "holder_name": card.holder_name})
    application = post("/v1/applications", {"applicant_id": applicant_id, "amount": 5_000_000,
                                             "product_code": "SME-RV-180", "submit": True})
    contract = post(f"/v1/applications/{application['application_id']}/accept",
                    {"account_id": account["account_id"]})
    post(f"/v1/contracts/{contract['contract_id']}/sign", {"content_hash": contract["content_hash"]})
    line = post(f"/v1/contracts/{contract['contract_id']}/line", {})
    KNOWN["line_id"].append(line["line_id"])
    KNOWN["loan_id"].append(post(f"/v1/lines/{line['line_id']}/draws", {"amount": 1_000_000},
                                 key="seed-draw")
                            ["loan_id"])


schema = _served()


@schema.hook("flatmap_path_parameters")
def _known_ids(context, path_parameters: dict) -> st.SearchStrategy:
    """Now and then an id that exists instead of the generated one."""
    choices = {name: st.sampled_from([value, *KNOWN.get(name, [])])
               for name, value in (path_parameters or {}).items()}
    return st.fixed_dictionaries(choices) if choices else st.just(path_parameters)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_every_operation_answers_as_documented(case) -> None:
    headers = {"Authorization": f"Bearer {_TOKENS['admin']}"}
    if case.operation.method.upper() == "GET" and case.operation.path == "/health":
        headers = {}
    case.call_and_validate(headers=headers)


STATS: dict[tuple[str, str, int], int] = defaultdict(int)
STARTED = time.monotonic()


@schema.hook("after_call")
def _count(context, case, response) -> None:
    STATS[(case.operation.method.upper(), case.operation.path, response.status_code)] += 1


def teardown_module() -> None:
    """With PUHUI_FUZZ_STATS set (`make fuzz`), the figures docs/reliability.md reports."""
    if not os.environ.get("PUHUI_FUZZ_STATS"):
        return
    by_status: dict[int, int] = defaultdict(int)
    for (_, _, status), n in STATS.items():
        by_status[status] += n
    print(f"\nfuzz: {sum(STATS.values())} requests to {len({k[:2] for k in STATS})} operations "
          f"in {time.monotonic() - STARTED:.0f} s, {EXAMPLES} examples per operation and phase")
    print("fuzz: by status " + ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items())))
