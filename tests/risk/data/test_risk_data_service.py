"""Collecting business data under consent and keeping it as received, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from datetime import date

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from puhui.errors import ConsentMissing, ConsentRevoked
from puhui.parties.consent import DataScope
from puhui.parties.synthetic import small_business
from puhui.risk.data.connectors import ConnectorSet, SyntheticConnector
from puhui.risk.errors import RiskDataError
from puhui.risk.features import features_for
from puhui.services import applicants as svc
from puhui.services.access import Perm, Principal, Role
from puhui.services.data import accepted_data, canonical_text, collect, stored_payloads
from puhui.services.platform import Platform
from puhui.store.platform_models import ConsentLogRow
from puhui.store.payload_codec import unpack
from puhui.store.risk_models import SourcePayloadRow
from risk_data_samples import AS_OF, world

ADMIN = Principal("K1", Role.ADMIN, frozenset(Perm), None)
WORLD_ID = str(world().ids[world().observed(AS_OF)[0]])  # has months of data
SCOPES = (DataScope.TAX, DataScope.BANK_STATEMENT, DataScope.BUREAU)
BUSINESS = small_business(random.Random(4), AS_OF)  # what `_applicant` registers
USCC = BUSINESS.uscc  # providers are asked by it, not by the applicant id


def _applicant(p: Platform, scopes=SCOPES) -> str:
    with p.unit() as session:
        applicant_id = svc.register_applicant(p, session, ADMIN, BUSINESS)["applicant_id"]
        if scopes:
            svc.grant_consent(p, session, ADMIN, applicant_id, "credit_assessment", scopes)
    return applicant_id


class Corrupting:
    """A provider that sends a negative tax revenue on its first record."""

    def __init__(self, inner: SyntheticConnector) -> None:
        self.scope, self.inner = inner.scope, inner

    def fetch(self, business_id: str, as_of: date) -> dict:
        payload = self.inner.fetch(business_id, as_of)
        payload["records"][0]["declared_revenue_fen"] = -5
        return payload


def _rows(p: Platform) -> list:
    table = SourcePayloadRow.__table__
    with p.read() as session:
        return session.execute(select(table).order_by(table.c.id)).all()


def test_accepted_and_rejected_payloads_are_stored_with_their_consent(platform):
    applicant_id = _applicant(platform)
    base = ConnectorSet.synthetic(world(), business_ids={USCC: WORLD_ID})
    connectors = ConnectorSet([Corrupting(base[DataScope.TAX]), base[DataScope.BANK_STATEMENT],
                               base[DataScope.BUREAU]])
    with platform.unit() as session:
        got = collect(platform, session, applicant_id, "APP1", SCOPES, AS_OF, connectors)
    assert set(got.data) == {DataScope.BANK_STATEMENT, DataScope.BUREAU}
    assert list(got.errors) == [DataScope.TAX] and not got.complete
    assert "tax record 0, field declared_revenue_fen" in got.errors[DataScope.TAX]
    with platform.read() as session:
        stored = stored_payloads(session, "APP1")
        consent_id = svc.consents(session, applicant_id)[0].consent_id
        used = session.execute(select(ConsentLogRow.scope).where(
            ConsentLogRow.action == "used")).scalars().all()
    assert [s.scope for s in stored] == list(SCOPES)
    assert [s.status for s in stored] == ["rejected", "accepted", "accepted"]
    assert stored[0].error == got.errors[DataScope.TAX] and stored[1].error is None
    assert {s.consent_id for s in stored} == {consent_id}
    assert all(s.applicant_id == applicant_id and s.as_of == AS_OF for s in stored)
    assert stored[0].payload["records"][0]["declared_revenue_fen"] == -5  # kept as received
    assert sorted(used) == sorted(s.value for s in SCOPES)
    rows = _rows(platform)
    assert unpack(rows[1].payload_codec, rows[1].payload_blob) == \
        canonical_text(stored[1].payload).encode() == stored[1].received
    assert rows[1].fetched_at.tzinfo is not None
    # what was stored reproduces the decision's features
    again = accepted_data(stored)
    assert features_for(again, AS_OF) == features_for(got.data, AS_OF)


def test_unavailable_sources_are_reported_not_stored(platform):
    applicant_id = _applicant(platform, (DataScope.LOGISTICS,))
    w = world()
    no_logistics = next(str(b) for b, ok in zip(w.ids, w.has_logistics) if not ok)
    connectors = ConnectorSet.synthetic(w, business_ids={USCC: no_logistics})
    with platform.unit() as session:
        got = collect(platform, session, applicant_id, None, ["logistics"], AS_OF, connectors)
    assert got.data == {} and got.errors[DataScope.LOGISTICS].startswith("unavailable:")
    assert _rows(platform) == []


def test_missing_consent_raises_and_stores_only_the_refusal(platform):
    applicant_id = _applicant(platform, (DataScope.TAX,))
    connectors = ConnectorSet.synthetic(world(), business_ids={USCC: WORLD_ID})
    with pytest.raises(ConsentMissing, match="bureau"):
        with platform.unit() as session:
            collect(platform, session, applicant_id, "APP2", ["tax", "bureau"], AS_OF, connectors)
    assert _rows(platform) == []  # the tax payload fetched first went with the rollback
    with platform.read() as session:
        log = session.execute(select(ConsentLogRow.action, ConsentLogRow.scope)
                              .where(ConsentLogRow.application_id == "APP2")).all()
    assert [tuple(r) for r in log] == [("refused", "bureau")]


def test_revoked_consent_stops_collection(platform):
    applicant_id = _applicant(platform, (DataScope.TAX,))
    with platform.unit() as session:
        consent_id = svc.consents(session, applicant_id)[0].consent_id
        svc.revoke_consent(platform, session, ADMIN, applicant_id, consent_id)
    connectors = ConnectorSet.synthetic(world(), business_ids={USCC: WORLD_ID})
    with pytest.raises(ConsentRevoked):
        with platform.unit() as session:
            collect(platform, session, applicant_id, None, ["tax"], AS_OF, connectors)
    assert _rows(platform) == []


def test_stored_payloads_are_append_only(platform):
    applicant_id = _applicant(platform, (DataScope.TAX,))
    connectors = ConnectorSet.synthetic(world(), business_ids={USCC: WORLD_ID})
    with platform.unit() as session:
        collect(platform, session, applicant_id, "APP3", ["tax"], AS_OF, connectors)
    for statement in ("UPDATE source_payloads SET status = 'rejected'",
                      "UPDATE source_payloads SET payload = '{}'",
                      "DELETE FROM source_payloads"):
        with pytest.raises(DBAPIError, match="append-only"):
            with platform.engine.begin() as conn:
                conn.execute(text(statement))
    rows = _rows(platform)
    assert len(rows) == 1 and rows[0].status == "accepted"
    assert json.loads(unpack(rows[0].payload_codec, rows[0].payload_blob))["business_id"] == USCC


def test_a_tampered_payload_is_detected_on_read(platform):
    applicant_id = _applicant(platform, (DataScope.TAX,))
    with platform.unit() as session:
        session.execute(SourcePayloadRow.__table__.insert(), {
            "applicant_id": applicant_id, "application_id": "APP4", "scope": "tax",
            "consent_id": "CS1", "fetched_at": platform.clock.now(), "as_of": AS_OF,
            "status": "accepted", "error": None, "payload": "{}", "payload_sha256": "0" * 64})
    with platform.read() as session:
        with pytest.raises(RiskDataError, match="does not match its sha256"):
            stored_payloads(session, "APP4")


def test_the_stored_form_of_a_payload_is_the_canonical_json_whoever_writes_it() -> None:
    """A payload is stored as sorted-key, compact UTF-8 JSON; the fast encoder and the standard
    library's (which takes what the fast one refuses: integers beyond 64 bits) agree on it."""
    import json

    from puhui.services.data import canonical_bytes

    for payload in ({"b": 1, "a": [True, None, "税务", -5, 2.5]},
                    {"records": [{"z": "é", "y": {"k": 1}}], "as_of": "2026-01-01"},
                    {"big": 2 ** 70, "a": "x"}):
        expected = json.dumps(payload, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode("utf-8")
        assert canonical_bytes(payload) == expected
