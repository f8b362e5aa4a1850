"""`puhui risk warnings` and `puhui portfolio report|provision` on a small book."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from puhui.cli import app
from puhui.risk.portfolio import previous_month_end
from puhui.services.clock import SystemClock, business_date
from warning_book_samples import book_loan, open_platform

runner = CliRunner()


@pytest.fixture
def db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'book.sqlite'}"
    today = business_date(SystemClock())
    p = open_platform(url, today)
    try:
        book_loan(p, "LN-LATE", today - timedelta(days=120))
    finally:
        p.close()
    return url


def cli(*args: str):
    return runner.invoke(app, list(args), terminal_width=200)


def test_risk_warnings_runs_and_lists_by_status(db) -> None:
    empty = cli("risk", "warnings", "--db", db)
    assert empty.exit_code == 0 and "no loan has been assessed" in empty.output
    r = cli("risk", "warnings", "--run", "--db", db)
    assert r.exit_code == 0, r.output
    assert "assessed 1 loan(s)" in r.output and "LN-LATE" in r.output
    assert "alert" in r.output
    r = cli("risk", "warnings", "--status", "alert", "--json", "--db", db)
    view = json.loads(r.output)
    assert [i["loan_id"] for i in view["items"]] == ["LN-LATE"] and view["counts"]["alert"] == 1
    assert [(s["signal"], s["severity"]) for s in view["items"][0]["signals"]] == [
        ("missed_instalment", "high")]
    again = cli("risk", "warnings", "--run", "--json", "--db", db)  # the same day: nothing new
    assert json.loads(again.output)["run"]["already_assessed"] == 1
    r = cli("risk", "warnings", "--status", "watch", "--json", "--db", db)
    assert json.loads(r.output)["items"] == []
    r = cli("risk", "warnings", "--status", "panic", "--db", db)
    assert r.exit_code == 2 and "unknown status" in r.output


def test_portfolio_report_and_provision(db) -> None:
    month = f"{previous_month_end(business_date(SystemClock())):%Y-%m}"
    r = cli("portfolio", "report", "--month", month, "--db", db)
    assert r.exit_code == 0, r.output
    assert "Roll rates" in r.output and "not posted for this month yet" in r.output
    r = cli("portfolio", "provision", "--month", month, "--db", db)
    assert r.exit_code == 0 and "allowance 0 ->" in r.output, r.output
    r = cli("portfolio", "provision", "--month", month, "--db", db)
    assert r.exit_code == 0 and "already provisioned" in r.output
    r = cli("portfolio", "report", "--json", "--month", month, "--db", db)
    report = json.loads(r.output)
    assert report["provision"]["posted"]["required"] == report["provision"]["required"] > 0
    r = cli("portfolio", "provision", "--month", "2026-99", "--db", db)
    assert r.exit_code == 2 and "YYYY-MM" in r.output
