"""`puhui privacy`: export, erase, purge and rotate from the command line, as the operator;
`puhui keys issue --scope` names the explicit read_personal scope."""

from __future__ import annotations

import json
import random
from datetime import date

from typer.testing import CliRunner

from puhui.cli import app
from puhui.origination.synthetic import small_business
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
