"""Collecting an applicant's data from providers over HTTP (fake sources served by the suite):
a source that is down is reported naming it and nothing is stored for it; a payload of the wrong
shape is kept as rejected; the healthy sources are kept as accepted; every query is logged under
consent.  On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import random

from sqlalchemy import select

from puhui.parties.consent import DataScope
from puhui.parties.synthetic import small_business
from puhui.risk.data.connectors import ConnectorSet
from puhui.risk.data.resilience import SourcePolicy, SourceSettings
from puhui.services import applicants as svc
from puhui.services.access import Perm, Principal, Role
from puhui.services.data import collect, stored_payloads
from puhui.services.sources import HttpConnector
from puhui.store.platform_models import ConsentLogRow

from fake_sources import Answer, FakeSources, ok, status
from risk_data_samples import AS_OF

ADMIN = Principal("K1", Role.ADMIN, frozenset(Perm), None)
BUSINESS = small_business(random.Random(8), AS_OF)
SCOPES = (DataScope.TAX, DataScope.BANK_STATEMENT, DataScope.BUREAU)
POLICY = SourcePolicy(timeout=0.5, retries=1, backoff=0.005, backoff_max=0.005)


def test_a_source_that_is_down_is_reported_by_name_and_the_others_are_kept(platform) -> None:
    with platform.unit() as session:
        applicant_id = svc.register_applicant(platform, session, ADMIN, BUSINESS)["applicant_id"]
        svc.grant_consent(platform, session, ADMIN, applicant_id, "credit_assessment", SCOPES)
    with FakeSources() as server:
        server.script("bureau", status(503))
        server.script("tax", Answer(200, {"records": []}))  # no envelope
        server.script("bank_statement", ok(delay=0.1))
        connectors = ConnectorSet([HttpConnector(s, server.url) for s in SCOPES],
                                  SourceSettings(POLICY))
        with platform.unit() as session:
            got = collect(platform, session, applicant_id, "APP9", SCOPES, AS_OF, connectors)
    assert set(got.data) == {DataScope.BANK_STATEMENT}
    assert got.errors[DataScope.BUREAU] == (f"failed: bureau source at {server.url}: answered "
                                            f"HTTP 503 (2 attempts)")
    assert got.errors[DataScope.TAX].startswith("tax payload, field business_id")
    assert server.requests == {"bureau": 2, "tax": 1, "bank_statement": 1}
    assert {b for _, b, _ in server.asked} == {BUSINESS.uscc}  # asked by the business's USCC
    with platform.read() as session:
        stored = {s.scope: s for s in stored_payloads(session, "APP9")}
        used = session.execute(select(ConsentLogRow.scope).where(
            ConsentLogRow.application_id == "APP9",
            ConsentLogRow.action == "used")).scalars().all()
    assert set(stored) == {DataScope.TAX, DataScope.BANK_STATEMENT}  # nothing came from bureau
    assert stored[DataScope.TAX].status == "rejected"
    assert stored[DataScope.TAX].payload == {"records": []}  # kept as received
    assert stored[DataScope.BANK_STATEMENT].status == "accepted"
    # the very bytes each source sent (the fake sources write JSON with spaces, which is not
    # the canonical form the platform would write), hashed as sent
    sent = {"business_id": BUSINESS.uscc, "as_of": AS_OF.isoformat(), "records": []}
    assert stored[DataScope.TAX].received == b'{"records": []}'
    assert stored[DataScope.BANK_STATEMENT].received == json.dumps(sent).encode()
    assert stored[DataScope.BANK_STATEMENT].payload_sha256 == \
        hashlib.sha256(json.dumps(sent).encode()).hexdigest()
    assert sorted(used) == sorted(s.value for s in SCOPES)
