"""The platform commands: simulate a book through origination, apply from the command line,
issue API keys; bad arguments exit 2 without a traceback."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from puhui.cli import app

runner = CliRunner()


def _risk(registry: str, tmp_path) -> list[str]:
    return ["--models", registry, "--policies", str(tmp_path / "policies")]


def test_simulate_runs_businesses_from_application_to_repayment(tmp_path, sme_registry) -> None:
    url = f"sqlite:///{tmp_path / 'sim.sqlite'}"
    result = runner.invoke(app, ["simulate", "--businesses", "24", "--days", "75", "--db", url,
                                 *_risk(sme_registry, tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Applications:" in result.output and "offered" in result.output
    assert "Trial balance: {'CNY': 0} -> balanced" in result.output
    assert "Five-tier classification" in result.output
    verify = runner.invoke(app, ["ledger", "verify", "--db", url])
    assert verify.exit_code == 0, verify.output


def test_apply_prints_the_decision_and_the_offer(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'apply.sqlite'}"
    result = runner.invoke(app, ["apply", "--amount", "5000000", "--db", url,
                                 "--decider", "default"])
    assert result.exit_code == 0, result.output
    assert "application" in result.output and "policy default-" in result.output
    assert "-> offered" in result.output and "APR" in result.output


def test_apply_decides_with_the_risk_engine(tmp_path, sme_registry) -> None:
    url = f"sqlite:///{tmp_path / 'apply.sqlite'}"
    result = runner.invoke(app, ["apply", "--amount", "5000000", "--db", url,
                                 *_risk(sme_registry, tmp_path)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "policy sme-2026.11+" in said and "model sme-scorecard-" in said
    result = runner.invoke(app, ["apply", "--db", url, "--decider", "oracle"])
    assert result.exit_code == 2 and "--decider" in result.output


def test_apply_with_an_applicant_file_and_bad_input(tmp_path) -> None:
    import random
    from datetime import date

    from puhui.parties.synthetic import small_business

    url = f"sqlite:///{tmp_path / 'apply.sqlite'}"
    body = small_business(random.Random(3), date(2026, 3, 1), monthly_revenue=9_000_000).to_dict()
    path = tmp_path / "applicant.json"
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["apply", "--applicant", str(path), "--db", url,
                                 "--decider", "default"])
    assert result.exit_code == 0, result.output
    body["owner"]["resident_id"] = "110101198503071230"
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["apply", "--applicant", str(path), "--db", url,
                                 "--decider", "default"])
    assert result.exit_code == 2 and "refused" in result.output
    result = runner.invoke(app, ["apply", "--product", "NOPE", "--db", url, "--decider", "default"])
    assert result.exit_code == 2 and "refused" in result.output


def test_keys_issue(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.sqlite'}"
    result = runner.invoke(app, ["keys", "issue", "acme", "--role", "partner", "--subject", "P-ACME",
                                 "--db", url])
    assert result.exit_code == 0 and "phk_" in result.output, result.output
    result = runner.invoke(app, ["keys", "issue", "acme", "--role", "emperor", "--db", url])
    assert result.exit_code == 2


def test_serve_demo_seeds_an_empty_database_once(tmp_path, sme_registry) -> None:
    """What `make run` does before serving: a demo book up to today, and never twice."""
    from sqlalchemy import func, select

    from puhui.cli.main import _seed_demo
    from puhui.services.platform import Platform
    from puhui.store.platform_models import ApplicationRow

    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    risk = {"decider": "risk", "models": sme_registry, "policies": tmp_path / "policies"}
    _seed_demo(url, businesses=8, days=20, risk=risk)
    platform = Platform.open(url)
    try:
        with platform.read() as session:
            count = session.execute(select(func.count()).select_from(ApplicationRow)).scalar_one()
        assert count == 8
        assert platform.book.verify_ledger() > 0
        assert all(v == 0 for v in platform.book.trial_balance().values())
        _seed_demo(url, businesses=8, days=20, risk=risk)
        with platform.read() as session:
            again = session.execute(select(func.count()).select_from(ApplicationRow)).scalar_one()
        assert again == count
    finally:
        platform.close()


def test_keys_issue_with_scopes_refuses_an_unknown_one(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.sqlite'}"
    result = runner.invoke(app, ["keys", "issue", "reports", "--role", "partner", "--subject",
                                 "P-ACME", "--scope", "read", "--db", url])
    assert result.exit_code == 0 and "phk_" in result.output, result.output
    for scope in ("fly", "manage_keys"):
        result = runner.invoke(app, ["keys", "issue", "x", "--role", "partner", "--subject",
                                     "P-ACME", "--scope", "read", "--scope", scope, "--db", url])
        assert result.exit_code == 2 and scope in result.output, result.output


def test_serve_demo_prints_keys_and_curl_unwrapped_on_an_80_column_terminal(tmp_path,
                                                                             monkeypatch) -> None:
    """`make run` prints a curl command to try: on an 80-column terminal it must stay one
    line with the whole key in it, or the copied command fails to authenticate."""
    import io

    import uvicorn
    from rich.console import Console

    import puhui.cli.main as cli
    from puhui.services import access
    from puhui.services.platform import Platform

    out = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, width=80, force_terminal=False))
    monkeypatch.setattr(cli, "_seed_demo", lambda *args, **kwargs: None)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    url = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    result = runner.invoke(app, ["serve", "--demo", "--decider", "default", "--db", url],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = out.getvalue().splitlines()
    curl = [line for line in lines if line.startswith("try: curl ")]
    assert len(curl) == 1, lines
    assert len(curl[0]) > 80  # long enough that a wrapping console would have broken it
    assert curl[0].endswith(" http://127.0.0.1:8000/v1/products"), curl[0]
    partner = [line for line in lines if line.startswith("partner key: ")]
    admin = [line for line in lines if line.startswith("admin key: ")]
    assert len(partner) == 1 and len(admin) == 1, lines
    token = partner[0].removeprefix("partner key: ").strip()
    assert f"'Authorization: Bearer {token}'" in curl[0]
    platform = Platform.open(url)
    try:
        with platform.read() as session:  # the printed keys are whole: they authenticate
            assert access.authenticate(session, token).role.value == "partner"
            admin_token = admin[0].removeprefix("admin key: ").strip()
            assert access.authenticate(session, admin_token).role.value == "admin"
    finally:
        platform.close()
