"""Personal data (PIPL): masked everywhere, full reads entitled and logged, sealed at rest,
exported and erased on request, and auto-debit only on a legal basis, every use logged."""

from __future__ import annotations

import json
import os
import stat
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import text

from puhui.origination.offer import contract_hash
from puhui.services import access, privacy
from puhui.services.access import SYSTEM
from puhui.services.clock import at_business_date, business_date
from puhui.services.errors import InvalidRequest
from puhui.store import crypto
from puhui.store.platform_models import ApplicantRow, BankAccountRow, ContractRow


def _numbers(api, application: dict) -> tuple[str, str, str]:
    """The resident ID, mobile and card number the applicant registered with (in full)."""
    with api.platform.read() as session:
        from puhui.services.applicants import load_account, load_applicant

        _, applicant = load_applicant(session, SYSTEM, application["applicant_id"])
        card = load_account(session, application["applicant_id"],
                            application["account_id"]).card_number
    return applicant.owner.resident_id, applicant.owner.mobile, card


def _key(api, role: str, subject: str | None = None, scopes=None) -> str:
    with api.platform.unit() as session:
        return access.issue_key(session, f"{role} key", role, subject, scopes).token


def _as(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _full_staff(api) -> str:
    return _key(api, "credit_officer", scopes=["read", "read_personal"])


# -- 13: masked everywhere, full text for the entitled, every full read logged -------------------
def test_contract_views_mask_personal_numbers_for_every_key(api) -> None:
    application = api.offered()
    resident_id, mobile, card = _numbers(api, application)
    contract = api.post(f"/v1/applications/{application['application_id']}/accept",
                        {"account_id": application["account_id"]}).json()
    signed = api.post(f"/v1/contracts/{contract['contract_id']}/sign",
                      {"content_hash": contract["content_hash"]})
    assert signed.status_code == 200, signed.text
    shown = [contract, signed.json(), api.get(f"/v1/contracts/{contract['contract_id']}").json(),
             api.get(f"/v1/contracts/{contract['contract_id']}", who="admin").json(),
             api.get(f"/v1/contracts/{contract['contract_id']}", who="officer").json()]
    for view in shown:
        body = json.dumps(view, ensure_ascii=False)
        for number in (resident_id, mobile, card):
            assert number not in body
        owner = view["content"]["borrower"]["owner"]
        assert owner["resident_id"] == resident_id[:6] + "*" * 8 + resident_id[-4:]
        assert owner["mobile"] == mobile[:3] + "****" + mobile[-4:]
        assert view["content"]["repayment_account"]["card_number"].endswith(card[-4:])
        assert view["content_masked"] is True
        assert view["content_hash"] == contract["content_hash"]
    # the hash stays verifiable: over the full content, checked on the server
    r = api.get(f"/v1/contracts/{contract['contract_id']}/verify")
    assert r.status_code == 200 and r.json()["content_matches"] and r.json()["attested"]


def test_full_contract_only_for_staff_with_read_personal_and_a_reason_and_logged(api) -> None:
    application = api.signed()
    resident_id, mobile, card = _numbers(api, application)
    contract_id = application["contract"]["contract_id"]
    path = f"/v1/contracts/{contract_id}/full"
    for who in ("partner", "admin", "officer"):  # default keys lack the explicit scope
        assert api.get(path, who=who, params={"reason": "audit"}).status_code == 403
    borrower = _key(api, "borrower", application["applicant_id"])
    assert api.client.get(path, headers=_as(borrower),
                          params={"reason": "mine"}).status_code == 403
    staff = _full_staff(api)
    assert api.client.get(path, headers=_as(staff)).status_code == 422  # no reason
    r = api.client.get(path, headers=_as(staff), params={"reason": "complaint C-17"})
    assert r.status_code == 200, r.text
    full = r.json()
    assert full["content"]["borrower"]["owner"]["resident_id"] == resident_id
    assert full["content"]["borrower"]["owner"]["mobile"] == mobile
    assert full["content"]["repayment_account"]["card_number"] == card
    assert contract_hash(full["content"]) == full["content_hash"]
    log = api.get(f"/v1/applicants/{application['applicant_id']}/access-log").json()["items"]
    assert [(e["action"], e["object_id"], e["reason"], e["role"]) for e in log] == [
        ("full_read", contract_id, "complaint C-17", "credit_officer")]
    assert log[0]["actor"] == staff.split("_")[1]


def test_read_personal_is_never_a_default_scope(api) -> None:
    with api.platform.unit() as session:
        admin = access.issue_key(session, "a", "admin")
        officer = access.issue_key(session, "o", "credit_officer", perms=["read_personal"])
        partner = ("partner", "P-X")
        try:
            access.issue_key(session, "p", *partner, perms=["read_personal"])
            raised = False
        except InvalidRequest:  # a scope beyond the role is a bad request, not a denial
            raised = True
    assert access.Perm.READ_PERSONAL not in admin.perms
    assert officer.perms == {access.Perm.READ_PERSONAL}
    assert raised


# -- 14: sealed at rest, keyed hashes, keys outside the database, rotation ------------------------
def test_database_files_hold_no_identity_mobile_or_card_number(api) -> None:
    application = api.disbursed()
    resident_id, mobile, card = _numbers(api, application)
    # the full text was also read once (and logged): the log must not hold the numbers either
    api.client.get(f"/v1/contracts/{application['contract']['contract_id']}/full",
                   headers=_as(_full_staff(api)), params={"reason": "audit"})
    engine = api.platform.engine
    if engine.dialect.name == "sqlite":
        db = Path(engine.url.database)
        blobs = [p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists()]
        assert blobs
    else:  # every text value of every table, as the server holds it
        blobs = []
        with engine.connect() as conn:
            for table in conn.execute(text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public'")).scalars():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    blobs.append(repr(tuple(row)).encode())
    for number in (resident_id, mobile, card):
        for blob in blobs:
            assert number.encode() not in blob
    with api.platform.read() as session:
        contract = session.get(ContractRow, application["contract"]["contract_id"])
        applicant = session.get(ApplicantRow, application["applicant_id"])
        ring = crypto.keyring_of(session)
    assert contract.content.startswith(crypto.SEALED) and applicant.data.startswith(crypto.SEALED)
    assert crypto.Keyring.key_id(applicant.data_key) == ring.active
    assert applicant.owner_id_hash == ring.lookup_hash("resident_id", resident_id)
    import hashlib
    assert applicant.owner_id_hash != hashlib.sha256(f"resident_id:{resident_id}".encode()).hexdigest()


def test_key_file_is_created_beside_the_sqlite_database_owner_only(tmp_path, monkeypatch) -> None:
    from puhui.services.platform import Platform

    monkeypatch.delenv(crypto.KEYS_ENV, raising=False)
    monkeypatch.delenv(crypto.KEY_FILE_ENV, raising=False)
    db = tmp_path / "book.sqlite"
    platform = Platform.open(f"sqlite:///{db}")
    try:
        with platform.unit() as session:
            ring = crypto.keyring_of(session)
    finally:
        platform.close()
    key_file = tmp_path / "book.sqlite.keys.json"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert crypto.Keyring.from_json(key_file.read_text()).keys == ring.keys
    assert ring.keys[ring.active] not in db.read_bytes()


def test_keys_from_the_environment_win_and_never_touch_disk(tmp_path, monkeypatch) -> None:
    ring = crypto.Keyring.generate()
    monkeypatch.setenv(crypto.KEYS_ENV, ring.to_json())
    got = crypto.keyring_for(f"sqlite:///{tmp_path}/x.sqlite")
    assert got.keys == ring.keys and not list(tmp_path.iterdir())


def test_rotation_rewraps_old_rows_and_new_rows_use_the_new_key(api, tmp_path,
                                                                monkeypatch) -> None:
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(tmp_path / "keys.json"))
    old = api.signed()
    with api.platform.read() as session:
        before = crypto.keyring_of(session).active
    report = privacy.rotate_keys(api.platform.engine)
    assert report["active"] != before and before in report["keys"] and report["rewrapped"] >= 1
    with api.platform.read() as session:
        row = session.get(ApplicantRow, old["applicant_id"])
        assert crypto.Keyring.key_id(row.data_key) == report["active"]
    # old rows still read (contract text under the unchanged data key), new ones use the new key
    r = api.client.get(f"/v1/contracts/{old['contract']['contract_id']}/full",
                       headers=_as(_full_staff(api)), params={"reason": "after rotation"})
    assert r.status_code == 200 and contract_hash(r.json()["content"]) == r.json()["content_hash"]
    assert api.get(f"/v1/applicants/{old['applicant_id']}").status_code == 200
    new_id, _, _ = api.onboard()
    with api.platform.read() as session:
        assert crypto.Keyring.key_id(session.get(ApplicantRow, new_id).data_key) == \
            report["active"]
    assert stat.S_IMODE(os.stat(tmp_path / "keys.json").st_mode) == 0o600


def test_rotation_seals_rows_written_before_encryption(api, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(tmp_path / "keys.json"))
    application = api.signed()
    resident_id, _, card = _numbers(api, application)
    with api.platform.unit() as session:  # as a row written before 0008 looks
        from puhui.services.applicants import applicant_data
        from puhui.services.applications import contract_content

        row = session.get(ApplicantRow, application["applicant_id"])
        plain = json.dumps(applicant_data(session, row).to_dict())
        contract = session.get(ContractRow, application["contract"]["contract_id"])
        content = json.dumps(contract_content(session, contract, row.applicant_id))
        account = session.get(BankAccountRow, application["account_id"])
        account.data = json.dumps({"card_number": card, "holder_name": "x", "bank_name": ""})
        row.data, row.data_key, row.owner_id_hash = plain, None, None
        contract.content = content
    assert api.get(f"/v1/applicants/{application['applicant_id']}").status_code == 200
    report = privacy.rotate_keys(api.platform.engine, new_master=False)
    assert report["sealed_applicants"] == 1
    with api.platform.read() as session:
        row = session.get(ApplicantRow, application["applicant_id"])
        assert row.data.startswith(crypto.SEALED) and resident_id not in row.data
        assert session.get(ContractRow, contract.contract_id).content.startswith(crypto.SEALED)
        assert session.get(BankAccountRow, application["account_id"]).data.startswith(
            crypto.SEALED)
        assert privacy.find_by_resident_id(session, SYSTEM, resident_id) == [row.applicant_id]
    r = api.client.get(f"/v1/contracts/{contract.contract_id}/full",
                       headers=_as(_full_staff(api)), params={"reason": "check"})
    assert contract_hash(r.json()["content"]) == r.json()["content_hash"]


def test_a_sealed_field_moved_to_another_row_does_not_open(api) -> None:
    a, b = api.signed(), api.signed()
    with api.platform.unit() as session:
        ca = session.get(ContractRow, a["contract"]["contract_id"])
        cb = session.get(ContractRow, b["contract"]["contract_id"])
        cb.content = ca.content
    r = api.client.get(f"/v1/contracts/{b['contract']['contract_id']}/full",
                       headers=_as(_full_staff(api)), params={"reason": "x"})
    # tampering is an integrity fault: a 503 problem, never shown as data, never a bare 500
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "/problems/personal-data-integrity"
    assert a["contract"]["contract_id"] not in r.text


def _applications(api) -> int:
    with api.platform.read() as session:
        return session.execute(text("SELECT count(*) FROM applications")).scalar_one()


def test_a_missing_data_key_is_a_503_problem_that_changes_nothing(api, monkeypatch,
                                                                 caplog) -> None:
    applicant_id, _, _ = api.onboard()
    with api.platform.read() as session:
        wrapped_under = crypto.Keyring.key_id(session.get(ApplicantRow, applicant_id).data_key)
        row = session.get(ApplicantRow, applicant_id)
        resident_id = privacy.applicant_data(session, row).owner.resident_id
    before = _applications(api)
    # the deployment now holds another key (a wrong key file or PUHUI_DATA_KEYS)
    other = crypto.Keyring({"m7": os.urandom(32)}, "m7", os.urandom(32))
    monkeypatch.setenv(crypto.KEYS_ENV, other.to_json())
    caplog.set_level("ERROR", logger="puhui.api")
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "SME-EI-12",
                                      "amount": 10_000_000, "submit": True})
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "/problems/personal-data-unavailable" and body["status"] == 503
    assert "nothing was changed" in body["detail"]
    for secret in (wrapped_under, resident_id, *(k.hex() for k in other.keys.values())):
        assert secret not in r.text  # neither the key id, key material nor personal data
    assert _applications(api) == before  # nothing written, not even half an application
    assert f"master key {wrapped_under!r} is missing" in caplog.text  # the operator learns which
    got = api.get(f"/v1/applicants/{applicant_id}")
    assert got.status_code == 503 and got.json()["type"] == "/problems/personal-data-unavailable"
    # the right key back: the same request goes through
    monkeypatch.delenv(crypto.KEYS_ENV)
    assert api.get(f"/v1/applicants/{applicant_id}").status_code == 200


def test_a_key_id_holding_other_bytes_is_an_integrity_fault(api, monkeypatch, caplog) -> None:
    applicant_id, _, _ = api.onboard()
    with api.platform.read() as session:
        kid = crypto.Keyring.key_id(session.get(ApplicantRow, applicant_id).data_key)
    before = _applications(api)
    impostor = crypto.Keyring({kid: os.urandom(32)}, kid, os.urandom(32))
    monkeypatch.setenv(crypto.KEYS_ENV, impostor.to_json())
    caplog.set_level("ERROR", logger="puhui.api")
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "SME-EI-12",
                                      "amount": 10_000_000, "submit": True})
    assert r.status_code == 503 and r.json()["type"] == "/problems/personal-data-integrity"
    assert r.headers["content-type"] == "application/problem+json"
    assert _applications(api) == before
    assert "integrity fault" in caplog.text and kid in caplog.text


# -- 14: before consent ---------------------------------------------------------------------------
def test_registrations_without_consent_are_purged_after_the_retention(api) -> None:
    waiting, _, _ = api.onboard(scopes=())
    consented, _, _ = api.onboard(scopes=("identity",))
    api.clock.advance(privacy.UNCONSENTED_RETENTION - timedelta(seconds=1))
    with api.platform.unit() as session:
        assert privacy.purge_unconsented(api.platform, session, SYSTEM) == []
    api.clock.advance(timedelta(seconds=1))
    with api.platform.unit() as session:
        assert privacy.purge_unconsented(api.platform, session, SYSTEM) == [waiting]
    gone = api.get(f"/v1/applicants/{waiting}", who="admin").json()
    assert gone["erased_at"] is not None and "owner" not in gone
    assert api.get(f"/v1/applicants/{consented}").json()["erased_at"] is None


def _registered_at(api, moment, consent: bool = False) -> str:
    api.clock.set(moment)
    applicant_id, _, _ = api.onboard(scopes=("identity",) if consent else ())
    return applicant_id


def _erased(api, applicant_id: str) -> bool:
    return api.get(f"/v1/applicants/{applicant_id}", who="admin").json()["erased_at"] is not None


def test_end_of_day_erases_registrations_without_consent_by_business_date(api) -> None:
    from datetime import datetime, time

    from puhui.services.clock import BUSINESS_ZONE

    start = business_date(api.clock)

    def day(n: int) -> date:
        return start + timedelta(days=n)

    def local(d: date, t: time) -> datetime:
        return datetime.combine(d, t, BUSINESS_ZONE)

    # registered on business day 0 (its last second), day 1 (its first second), day 0 consented
    old = _registered_at(api, local(day(0), time(23, 59, 59)))
    boundary = _registered_at(api, local(day(1), time(0, 0, 0)))
    consented = _registered_at(api, local(day(0), time(9)), consent=True)
    # the wall clock is 40 days on: the close of day 31 still measures from day 31
    api.clock.set(local(day(40), time(10)))
    r = api.post("/v1/operations/end-of-day", {"business_date": day(31).isoformat()},
                 who="admin")
    assert r.status_code == 200, r.text
    assert r.json()["unconsented_erased"] == 1  # day 0 + 30 < 31; day 1 + 30 == 31 is kept
    assert _erased(api, old) and not _erased(api, boundary) and not _erased(api, consented)
    log = api.get(f"/v1/applicants/{old}/access-log", who="admin").json()["items"]
    assert [(e["action"], e["reason"]) for e in log] == [
        ("erasure", "no consent within 30 days of registration")]
    # the same close again erases nothing more
    again = api.post("/v1/operations/end-of-day", {"business_date": day(31).isoformat()},
                     who="admin")
    assert again.status_code == 200 and again.json()["unconsented_erased"] == 0
    assert len(api.get(f"/v1/applicants/{old}/access-log", who="admin").json()["items"]) == 1
    # the next day's close takes the boundary registration; a consented one is never erased
    nxt = api.post("/v1/operations/end-of-day", {"business_date": day(32).isoformat()},
                   who="admin")
    assert nxt.json()["unconsented_erased"] == 1 and _erased(api, boundary)
    last = api.post("/v1/operations/end-of-day", {}, who="admin")
    assert last.json()["unconsented_erased"] == 0 and not _erased(api, consented)


def test_the_retention_is_a_bounded_platform_setting(api, monkeypatch) -> None:
    from puhui.services.business_day import RETENTION_ENV

    start = business_date(api.clock)
    waiting, _, _ = api.onboard(scopes=())
    api.clock.advance(timedelta(days=6))
    for bad in ("0", "366", "-1", "30d", "1.5"):
        monkeypatch.setenv(RETENTION_ENV, bad)
        r = api.post("/v1/operations/end-of-day", {}, who="admin")
        assert r.status_code == 422 and RETENTION_ENV in r.json()["detail"], (bad, r.text)
    with api.platform.read() as session:  # refused before anything was done
        assert session.execute(text("SELECT count(*) FROM business_days")).scalar_one() == 0
    assert not _erased(api, waiting)
    monkeypatch.setenv(RETENTION_ENV, "5")
    r = api.post("/v1/operations/end-of-day", {}, who="admin")
    assert r.status_code == 200 and r.json()["unconsented_erased"] == 1, r.text
    assert _erased(api, waiting)
    log = api.get(f"/v1/applicants/{waiting}/access-log", who="admin").json()["items"]
    assert log[-1]["reason"] == "no consent within 5 days of registration"
    assert r.json()["business_date"] == (start + timedelta(days=6)).isoformat()


# -- 15: export and erasure -----------------------------------------------------------------------
def test_export_gives_the_person_everything_held_and_is_logged(api) -> None:
    application = api.disbursed()
    resident_id, mobile, card = _numbers(api, application)
    applicant_id = application["applicant_id"]
    borrower = _key(api, "borrower", applicant_id)
    assert api.get(f"/v1/applicants/{applicant_id}/export").status_code == 403  # partner
    assert api.get(f"/v1/applicants/{applicant_id}/export", who="officer").status_code == 403
    other = _key(api, "borrower", "AP-someone-else")
    assert api.client.get(f"/v1/applicants/{applicant_id}/export",
                          headers=_as(other)).status_code == 403
    r = api.client.get(f"/v1/applicants/{applicant_id}/export", headers=_as(borrower))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["applicant"]["owner"]["resident_id"] == resident_id
    assert out["applicant"]["owner"]["mobile"] == mobile
    assert out["bank_accounts"][0]["card_number"] == card
    assert out["contracts"][0]["content"]["borrower"]["owner"]["resident_id"] == resident_id
    assert out["disbursements"][0]["payee_account"] == card
    assert {c["purpose"] for c in out["consents"]} == {"credit_assessment"}
    assert out["applications"][0]["history"] and out["identity_checks"]
    r = api.get(f"/v1/applicants/{applicant_id}/export", who="admin",
                params={"reason": "regulator request R-9"})
    assert r.status_code == 200
    log = api.get(f"/v1/applicants/{applicant_id}/access-log").json()["items"]
    assert [(e["action"], e["role"], e["reason"]) for e in log] == [
        ("export", "borrower", "data subject access request"),
        ("export", "admin", "regulator request R-9")]


def test_erasure_is_refused_while_the_loan_runs_and_destroys_the_data_after(api) -> None:
    application = api.disbursed()
    resident_id, mobile, card = _numbers(api, application)
    applicant_id, loan_id = application["applicant_id"], application["disbursement"]["loan_id"]
    borrower = _key(api, "borrower", applicant_id)
    path = f"/v1/applicants/{applicant_id}/erasure"
    assert api.post(path, {"reason": "x"}).status_code == 403  # the partner may not
    r = api.client.post(path, json={"reason": "please forget me"}, headers=_as(borrower))
    assert r.status_code == 409 and "not closed" in r.json()["detail"]
    assert api.get(f"/v1/applicants/{applicant_id}").json()["erased_at"] is None
    payoff = api.get(f"/v1/loans/{loan_id}").json()["payoff_amount"]
    r = api.post(f"/v1/loans/{loan_id}/repayments", {"amount": payoff, "prepayment": "full"})
    assert r.status_code == 201 and r.json()["status"] != "active", r.text
    r_status = r.json()["status"]
    r = api.client.post(path, json={"reason": "please forget me"}, headers=_as(borrower))
    assert r.status_code == 200, r.text
    # what stays: ids, amounts, hashes, the ledger; what goes: every personal field
    view = api.get(f"/v1/applicants/{applicant_id}", who="admin").json()
    assert view["erased_at"] and view["business_name"] == privacy.ERASED_NAME
    contract = api.get(f"/v1/contracts/{application['contract']['contract_id']}",
                       who="admin").json()
    assert contract["content"] is None and contract["content_erased"]
    assert contract["content_hash"] == application["contract"]["content_hash"]
    loan = api.get(f"/v1/loans/{loan_id}", who="admin")
    assert loan.status_code == 200 and loan.json()["status"] == r_status
    r = api.get("/v1/ledger/verify", who="admin")
    assert r.status_code == 200 and r.json()["verified_entries"] > 0
    with api.platform.read() as session:
        rows = session.execute(text("SELECT * FROM journal_entries")).all()
        assert rows and not any(resident_id in repr(r) or card in repr(r) for r in rows)
        applicant = session.get(ApplicantRow, applicant_id)
        assert applicant.data_key is None and resident_id not in applicant.data
        assert applicant.owner_id_hash  # the keyed reference is kept
    export = api.get(f"/v1/applicants/{applicant_id}/export", who="admin")
    assert export.status_code == 200, export.text
    export = export.json()
    assert export["applicant"] is None
    assert not any(n in json.dumps(export) for n in (resident_id, mobile, card))
    log = api.get(f"/v1/applicants/{applicant_id}/access-log", who="admin").json()["items"]
    assert [e["action"] for e in log] == ["erasure_refused", "erasure", "export"]
    again = api.client.post(path, json={}, headers=_as(borrower))
    assert again.status_code == 200 and again.json()["already_erased"]


def test_erasure_drops_every_stored_answer_showing_the_person(api) -> None:
    """The stored answers to accepting, signing and paying out name the contract, not the
    applicant, yet show the owner's name, masked numbers and the payee: erasure drops them too,
    and keeps the answers about the loan's money (repayments), which show no one."""
    application = api.disbursed()
    applicant_id, loan_id = application["applicant_id"], application["disbursement"]["loan_id"]
    with api.platform.read() as session:
        from puhui.services.applicants import load_applicant

        _, applicant = load_applicant(session, SYSTEM, applicant_id)
    owner, business = applicant.owner.name, applicant.business_name
    payoff = api.get(f"/v1/loans/{loan_id}").json()["payoff_amount"]
    r = api.post(f"/v1/loans/{loan_id}/repayments", {"amount": payoff, "prepayment": "full"})
    assert r.status_code == 201, r.text

    def stored() -> list[tuple[str, str]]:
        with api.platform.read() as session:
            return [(path, response) for path, response in session.execute(
                text("SELECT path, response FROM idempotency_records")).all()]

    showing = [path for path, response in stored() if owner in response or business in response]
    assert any(path.endswith("/accept") for path in showing)
    assert any(path.endswith("/sign") for path in showing)
    assert any(path.endswith("/disbursements") for path in showing)
    r = api.post(f"/v1/applicants/{applicant_id}/erasure", {"reason": "x"}, who="admin")
    assert r.status_code == 200, r.text
    left = stored()
    assert [p for p, response in left if owner in response or business in response] == []
    assert any(path == f"/v1/loans/{loan_id}/repayments" for path, _ in left)


def test_erasure_of_an_applicant_with_a_contract_awaiting_payout_is_refused(api) -> None:
    application = api.signed()
    r = api.post(f"/v1/applicants/{application['applicant_id']}/erasure", {"reason": "x"},
                 who="admin")
    assert r.status_code == 409 and "contract in force" in r.json()["detail"]


# -- 16: auto-debit on its legal basis, logged; a withdrawn authorisation stops it ---------------
def _first_due(application: dict) -> date:
    return date.fromisoformat(application["offer"]["schedule"][0]["due_date"])


def test_auto_debit_logs_its_legal_basis(api) -> None:
    application = api.disbursed(amount=2_000_000)
    api.clock.set(at_business_date(_first_due(application)))
    r = api.post("/v1/operations/auto-debit", {}, who="admin")
    assert r.status_code == 200 and r.json()["collected"] == 1, r.text
    log = api.get(f"/v1/applicants/{application['applicant_id']}/consent-log").json()["items"]
    used = [e for e in log if e["purpose"] == "loan_servicing"]
    assert len(used) == 1 and used[0]["action"] == "used" and used[0]["scope"] == "bank_account"
    assert used[0]["detail"]["legal_basis"] == "contract"
    assert used[0]["detail"]["contract_id"] == application["contract"]["contract_id"]
    assert used[0]["detail"]["loan_id"] == application["disbursement"]["loan_id"]
    assert used[0]["application_id"] == application["application_id"]


def test_a_withdrawn_auto_debit_authorisation_stops_the_debit(api) -> None:
    application = api.disbursed(amount=2_000_000)
    applicant_id = application["applicant_id"]
    r = api.post(f"/v1/applicants/{applicant_id}/consents",
                 {"purpose": "loan_servicing", "scopes": ["bank_account"]})
    consent_id = r.json()["consent_id"]
    api.clock.set(at_business_date(_first_due(application)))
    r = api.post(f"/v1/applicants/{applicant_id}/consents/{consent_id}/revoke")
    assert r.status_code == 200, r.text
    r = api.post("/v1/operations/auto-debit", {}, who="admin")
    assert r.status_code == 200 and r.json()["attempted"] == 0 and r.json()["refused"] == 1
    assert not api.gateway.paid_out("AD-")
    loan = api.get(f"/v1/loans/{application['disbursement']['loan_id']}").json()
    assert loan["amount_due"] > 0
    log = api.get(f"/v1/applicants/{applicant_id}/consent-log").json()["items"]
    refused = [e for e in log if e["purpose"] == "loan_servicing" and e["action"] == "refused"]
    assert len(refused) == 1 and "withdrew" in refused[0]["detail"]["reason"]
    # a new authorisation restores it, recorded with the consent as well as the contract
    api.post(f"/v1/applicants/{applicant_id}/consents",
             {"purpose": "loan_servicing", "scopes": ["bank_account"]})
    r = api.post("/v1/operations/auto-debit", {}, who="admin")
    assert r.json()["collected"] == 1
    used = [e for e in api.get(f"/v1/applicants/{applicant_id}/consent-log").json()["items"]
            if e["purpose"] == "loan_servicing" and e["action"] == "used"]
    assert used[-1]["detail"]["legal_basis"] == "consent" and used[-1]["consent_id"]


def test_a_key_rotated_by_another_process_is_picked_up(api, tmp_path, monkeypatch) -> None:
    key_file = tmp_path / "keys.json"
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(key_file))
    applicant_id, _, _ = api.onboard()
    rotated = crypto.Keyring.from_json(key_file.read_text()).with_new_active()
    key_file.write_text(rotated.to_json())  # as `puhui privacy rotate` elsewhere writes it
    with api.platform.unit() as session:
        row = session.get(ApplicantRow, applicant_id)
        row.data_key = rotated.rewrap(row.data_key, applicant_id)
    r = api.get(f"/v1/applicants/{applicant_id}")
    assert r.status_code == 200 and r.json()["owner"]["resident_id"].count("*") == 8
