"""`puhui privacy`: export, erase, purge and rotate from the command line, as the operator;
`puhui keys issue --scope` names the explicit read_personal scope."""

from __future__ import annotations

import json
import random
from datetime import date

from typer.testing import CliRunner

from puhui.cli import app
from puhui.parties.synthetic import small_business
from puhui.services import applicants
from puhui.services.access import SYSTEM
from puhui.services.platform import Platform
from puhui.store import crypto
from puhui.store.platform_models import ApplicantRow

runner = CliRunner()


def _registered(url: str) -> tuple[str, str]:
    platform = Platform.open(url)
    try:
        business = small_business(random.Random(3), date(2026, 3, 2))
        with platform.unit() as session:
            view = applicants.register_applicant(platform, session, SYSTEM, business)
    finally:
        platform.close()
    return view["applicant_id"], business.owner.resident_id


def test_export_erase_and_rotate_from_the_command_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(tmp_path / "keys.json"))
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    applicant_id, resident_id = _registered(url)
    out = tmp_path / "export.json"
    r = runner.invoke(app, ["privacy", "export", applicant_id, "--reason", "DSAR 4",
                            "--out", str(out), "--db", url])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["applicant"]["owner"]["resident_id"] == resident_id
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    r = runner.invoke(app, ["privacy", "rotate", "--db", url])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["active"] == "m2" and json.loads(r.output)["rewrapped"] == 1
    r = runner.invoke(app, ["privacy", "erase", applicant_id, "--reason", "asked", "--db", url])
    assert r.exit_code == 0 and '"already_erased": false' in r.output, r.output
    platform = Platform.open(url)
    try:
        with platform.read() as session:
            row = session.get(ApplicantRow, applicant_id)
            assert row.erased_at is not None and row.data_key is None
    finally:
        platform.close()
    r = runner.invoke(app, ["privacy", "erase", "AP-nobody", "--reason", "x", "--db", url])
    assert r.exit_code == 2 and "no applicant" in r.output


def test_keys_issue_names_the_read_personal_scope(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'k.sqlite'}"
    r = runner.invoke(app, ["keys", "issue", "auditor", "--role", "credit_officer",
                            "--scope", "read", "--scope", "read_personal", "--db", url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["keys", "issue", "pos", "--role", "partner", "--subject", "P",
                            "--scope", "read_personal", "--db", url])
    assert r.exit_code == 2 and "beyond" in r.output


def _access_rows(url: str) -> int:
    from sqlalchemy import func, select

    from puhui.store.platform_models import PersonalDataAccessRow

    platform = Platform.open(url)
    try:
        with platform.read() as session:
            return session.execute(select(func.count()).select_from(PersonalDataAccessRow)) \
                .scalar_one()
    finally:
        platform.close()


def test_a_missing_or_wrong_data_key_is_a_clear_message_and_exit_3(tmp_path,
                                                                   monkeypatch) -> None:
    import os

    from puhui.cli.main import EXIT_KEY_FAULT

    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(tmp_path / "keys.json"))
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    applicant_id, resident_id = _registered(url)
    logged = _access_rows(url)
    other = crypto.Keyring({"m7": os.urandom(32)}, "m7", os.urandom(32))
    monkeypatch.setenv(crypto.KEYS_ENV, other.to_json())
    r = runner.invoke(app, ["privacy", "export", applicant_id, "--reason", "DSAR", "--db", url])
    assert r.exit_code == EXIT_KEY_FAULT == 3, r.output
    assert "master key 'm1' is not in the keyring" in r.output  # names the id, for the operator
    assert "Traceback" not in r.output and resident_id not in r.output
    assert all(k.hex() not in r.output for k in other.keys.values())
    # the same id holding other bytes: the wrapped key does not authenticate
    impostor = crypto.Keyring({"m1": os.urandom(32)}, "m1", os.urandom(32))
    monkeypatch.setenv(crypto.KEYS_ENV, impostor.to_json())
    r = runner.invoke(app, ["privacy", "export", applicant_id, "--reason", "DSAR", "--db", url])
    assert r.exit_code == 3 and "integrity fault" in r.output, r.output
    monkeypatch.delenv(crypto.KEYS_ENV)
    assert _access_rows(url) == logged  # neither failed export was logged as done
    r = runner.invoke(app, ["privacy", "export", applicant_id, "--reason", "DSAR", "--db", url])
    assert r.exit_code == 0 and resident_id in r.output


def test_eod_erases_registrations_without_consent(tmp_path, monkeypatch) -> None:
    from datetime import timedelta

    from puhui.services.clock import (
        ManualClock,
        SystemClock,
        at_business_date,
        business_date,
    )

    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(tmp_path / "keys.json"))
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    today = business_date(SystemClock())
    ids = []
    for age in (31, 30):  # registered 31 and 30 business days before the close
        platform = Platform.open(url, clock=ManualClock(at_business_date(today - timedelta(age))))
        try:
            business = small_business(random.Random(age), date(2026, 3, 2))
            with platform.unit() as session:
                ids.append(applicants.register_applicant(platform, session, SYSTEM,
                                                         business)["applicant_id"])
        finally:
            platform.close()
    r = runner.invoke(app, ["eod", today.isoformat(), "--db", url])
    assert r.exit_code == 0, r.output
    assert "1 registration(s) without consent erased" in r.output
    r = runner.invoke(app, ["eod", today.isoformat(), "--db", url])
    assert r.exit_code == 0 and "0 registration(s) without consent erased" in r.output
    platform = Platform.open(url)
    try:
        with platform.read() as session:
            assert [session.get(ApplicantRow, i).erased_at is not None for i in ids] == \
                [True, False]
    finally:
        platform.close()
    monkeypatch.setenv("PUHUI_UNCONSENTED_RETENTION_DAYS", "400")
    r = runner.invoke(app, ["eod", today.isoformat(), "--db", url])
    assert r.exit_code == 2 and "PUHUI_UNCONSENTED_RETENTION_DAYS" in r.output


def test_purge_payloads_from_the_command_line(tmp_path, monkeypatch) -> None:
    from datetime import datetime, timezone

    from puhui.services.data import payload_values
    from puhui.store import risk_repo

    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(tmp_path / "keys.json"))
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    applicant_id, _ = _registered(url)
    platform = Platform.open(url)
    try:
        with platform.unit() as session:  # fetched long ago, for no application the book knows
            risk_repo.add_payload(session, {
                "applicant_id": applicant_id, "application_id": None, "scope": "tax",
                "consent_id": "CS1", "fetched_at": datetime(2019, 1, 2, tzinfo=timezone.utc),
                "as_of": date(2019, 1, 2), "status": "accepted", "error": None,
                **payload_values(b'{"records":[]}')})
    finally:
        platform.close()
    r = runner.invoke(app, ["privacy", "purge-payloads", "--dry-run", "--as-of", "2024-01-02",
                            "--db", url])
    assert r.exit_code == 0 and json.loads(r.output)["purged_payloads"] == 0, r.output
    r = runner.invoke(app, ["privacy", "purge-payloads", "--dry-run", "--as-of", "2024-01-03",
                            "--db", url])
    assert r.exit_code == 0 and json.loads(r.output)["purged_payloads"] == 1, r.output
    r = runner.invoke(app, ["privacy", "purge-payloads", "--db", url])
    report = json.loads(r.output)
    assert r.exit_code == 0 and report["purged_payloads"] == 1 and not report["dry_run"]
    assert report["purged_applications"][0]["kept_until"] == "2024-01-02"
    monkeypatch.setenv("PUHUI_PAYLOAD_RETENTION_YEARS", "99")
    r = runner.invoke(app, ["privacy", "purge-payloads", "--db", url])
    assert r.exit_code == 2 and "PUHUI_PAYLOAD_RETENTION_YEARS" in r.output
