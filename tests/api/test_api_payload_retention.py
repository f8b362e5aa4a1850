"""Data-source payloads are kept for the retention after their loan closes (or their application
ends), never while still needed, then purged with a tombstone and an access-log entry."""

from __future__ import annotations

import json
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from puhui.errors import InvalidBusinessDate
from puhui.risk.errors import InvalidParameter, PayloadTampered
from puhui.services import retention
from puhui.services.access import SYSTEM
from puhui.services.clock import at_business_date
from puhui.services.data import payload_values, stored_payloads
from puhui.services.retention import RETENTION_ENV, purge_payloads, retention_of, retention_years
from puhui.store import risk_repo
from puhui.store.risk_models import PurgedPayloadRow, SourcePayloadRow

from api_samples import START

PAYLOAD = {"as_of": START.isoformat(), "business_id": "91310000MA1FL8LQ2X", "records": [
    {"amount_fen": 100 + i, "ordered_on": "2026-02-01", "note": "商户 é"} for i in range(50)]}
RECEIVED = json.dumps(PAYLOAD, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _store(api, applicant_id: str, application_id: str | None, received: bytes = RECEIVED):
    with api.platform.unit() as session:
        risk_repo.add_payload(session, {
            "applicant_id": applicant_id, "application_id": application_id, "scope": "sales",
            "consent_id": "CS-test", "fetched_at": api.clock.now(), "as_of": START,
            "status": "accepted", "error": None, **payload_values(received)})


def _ids(api, table) -> list:
    with api.platform.read() as session:
        return [tuple(r) for r in session.execute(
            select(table.c.id, table.c.application_id).order_by(table.c.id)).all()]


def _purge(api, as_of: date | None = None, dry_run: bool = False) -> dict:
    with api.platform.unit() as session:
        return purge_payloads(api.platform, session, SYSTEM, as_of, dry_run)


def _submitted(api, status: str = "offered") -> dict:
    """A new application that the default policy answered with `status`."""
    for _ in range(20):
        applicant_id = api.onboard()[0]
        r = api.post("/v1/applications", {"applicant_id": applicant_id, "amount": 10_000_000,
                                          "product_code": "SME-EI-12", "submit": True})
        assert r.status_code == 201, r.text
        if r.json()["status"] == status:
            return r.json()
    raise AssertionError(f"no {status} application in 20 tries")


@pytest.mark.parametrize("page", [retention.PAGE, 2])  # 2: applications decided over 3 reads
def test_payloads_go_exactly_after_the_retention_and_never_while_needed(api, monkeypatch, page):
    monkeypatch.delenv(RETENTION_ENV, raising=False)
    monkeypatch.setattr(retention, "PAGE", page)
    open_loan = api.disbursed()
    closed = api.disbursed()
    loan_id = closed["disbursement"]["loan_id"]
    payoff = api.get(f"/v1/loans/{loan_id}").json()["payoff_amount"]
    r = api.post(f"/v1/loans/{loan_id}/repayments", {"amount": payoff, "prepayment": "full"})
    assert r.status_code == 201 and r.json()["status"] == "closed", r.text
    declined, withdrawn, pending = _submitted(api, "declined"), _submitted(api), _submitted(api)
    r = api.post(f"/v1/applications/{withdrawn['application_id']}/withdraw", {})
    assert r.status_code in (200, 201), r.text
    for app in (open_loan, closed, declined, withdrawn, pending):
        _store(api, app["applicant_id"], app["application_id"])
    _store(api, pending["applicant_id"], None)  # no application: kept from its fetch
    stored = _ids(api, SourcePayloadRow.__table__)
    assert len(stored) == 6

    api.clock.advance(timedelta(days=366 * 7))  # the purge may not look ahead of today
    last_kept = date(START.year + 5, START.month, START.day)  # all ended on START
    assert _purge(api, last_kept)["purged_payloads"] == 0  # exactly five years on: kept
    assert _purge(api, last_kept - timedelta(days=1))["purged_payloads"] == 0

    preview = _purge(api, last_kept + timedelta(days=1), dry_run=True)
    assert preview["purged_payloads"] == 4 and _ids(api, SourcePayloadRow.__table__) == stored
    report = _purge(api, last_kept + timedelta(days=1))
    assert report == {**preview, "dry_run": False}
    gone = {a["application_id"] for a in report["purged_applications"]}
    assert gone == {closed["application_id"], declined["application_id"],
                    withdrawn["application_id"], None}
    assert all(a["kept_until"] == last_kept.isoformat() for a in report["purged_applications"])
    assert report["kept_while_needed"] == 2  # the open loan and the live offer
    left = _ids(api, SourcePayloadRow.__table__)
    assert [a for _, a in left] == [open_loan["application_id"], pending["application_id"]]
    tombstones = _ids(api, PurgedPayloadRow.__table__)
    assert {i for i, _ in tombstones} == {i for i, _ in stored} - {i for i, _ in left}
    with api.platform.read() as session:
        reason = session.execute(select(PurgedPayloadRow.reason).where(
            PurgedPayloadRow.application_id == closed["application_id"])).scalar_one()
        assert f"loan {loan_id} closed" in reason
        assert stored_payloads(session, closed["application_id"]) == []
        assert stored_payloads(session, open_loan["application_id"])[0].received == RECEIVED
    log = api.get(f"/v1/applicants/{closed['applicant_id']}/access-log", who="admin").json()
    assert [(e["action"], e["object_id"]) for e in log["items"]] == [
        ("payload_purge", closed["application_id"])]
    assert _purge(api)["purged_payloads"] == 0  # nothing more today: the rest is still needed

    # the purge is the only way out: a payload without a tombstone cannot be deleted
    with pytest.raises(DBAPIError, match="append-only"):
        with api.platform.engine.begin() as conn:
            conn.execute(text("DELETE FROM source_payloads"))
    with pytest.raises(DBAPIError, match="append-only"):
        with api.platform.engine.begin() as conn:
            conn.execute(text("DELETE FROM purged_payloads"))


def test_a_purge_may_not_look_ahead_and_the_setting_is_bounded(api, monkeypatch):
    with pytest.raises(InvalidBusinessDate, match="never purged before its time"):
        _purge(api, START + timedelta(days=1))
    for bad in ("0", "31", "five", "-1"):
        monkeypatch.setenv(RETENTION_ENV, bad)
        with pytest.raises(InvalidParameter, match=RETENTION_ENV):
            _purge(api)
    monkeypatch.setenv(RETENTION_ENV, "30")
    assert retention_years() == 30 and _purge(api)["retention_years"] == 30
    monkeypatch.setenv(RETENTION_ENV, " ")
    assert retention_years() == 5


def _app(status="declined", loan_id=None, loan_status=None, last=None, ended=START):
    return SimpleNamespace(application_id="A1", applicant_id="P1", status=status,
                           updated_at=at_business_date(ended, 23), loan_id=loan_id,
                           loan_status=loan_status, loan_last_event=last)


@pytest.mark.parametrize("row, kept_until", [
    (_app(), date(2031, 3, 2)),                                    # declined: from the decision
    (_app("withdrawn", ended=date(2028, 2, 29)), date(2033, 2, 28)),  # no 29 Feb: the 28th
    (_app("disbursed", "L1", "closed", date(2027, 1, 5)), date(2032, 1, 5)),
    (_app("disbursed", "L1", "written_off", date(2027, 6, 30)), date(2032, 6, 30)),
    (_app("disbursed", "L1", "active", date(2027, 1, 5)), None),   # open loan: kept
    (_app("disbursed", "L1", "pending"), None),
    (_app("disbursed", "L1", None), None),                         # loan row missing: kept
    (_app("referred"), None), (_app("offered"), None), (_app("contract_signed"), None)])
def test_the_rule(row, kept_until):
    rule = retention_of(row, 5)
    assert rule.kept_until == kept_until
    if kept_until is not None:
        assert not rule.expired(kept_until) and rule.expired(kept_until + timedelta(days=1))
    else:
        assert not rule.expired(date(2099, 1, 1))


def test_payloads_read_back_byte_exact_and_an_altered_blob_is_refused(api):
    applicant_id = api.onboard()[0]
    other = json.dumps({**PAYLOAD, "note": "spaced, not canonical"}).encode("utf-8")
    _store(api, applicant_id, "APP-T", RECEIVED)
    _store(api, applicant_id, "APP-T", other)
    with api.platform.unit() as session:  # a row stored as text before revision 0013
        risk_repo.add_payload(session, {
            "applicant_id": applicant_id, "application_id": "APP-T", "scope": "tax",
            "consent_id": "CS-old", "fetched_at": api.clock.now(), "as_of": START,
            "status": "accepted", "error": None, "payload": RECEIVED.decode("utf-8"),
            "payload_sha256": payload_values(RECEIVED)["payload_sha256"]})
    with api.platform.read() as session:
        got = stored_payloads(session, "APP-T")
    assert [s.received for s in got] == [RECEIVED, other, RECEIVED]
    assert got[0].payload == PAYLOAD and got[0].payload_sha256 == got[2].payload_sha256
    assert [s.scope.value for s in got] == ["sales", "sales", "tax"]

    forged = payload_values(RECEIVED.replace(b'"amount_fen":100', b'"amount_fen":999'))
    first = min(i for i, _ in _ids(api, SourcePayloadRow.__table__))
    with api.platform.engine.begin() as conn:  # altered around the triggers, as an attacker
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER source_payloads_append_only ON source_payloads"))
        else:
            conn.execute(text("DROP TRIGGER source_payloads_no_update"))
        conn.execute(text("UPDATE source_payloads SET payload_blob = :blob WHERE id = :id"),
                     {"blob": forged["payload_blob"], "id": first})
    with api.platform.read() as session:
        with pytest.raises(PayloadTampered, match=f"stored payload {first} does not match"):
            stored_payloads(session, "APP-T")
