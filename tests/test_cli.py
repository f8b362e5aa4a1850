"""The `puhui` command on a small SQLite book: run, verify, inspect, close a day, refuse bad input."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from puhui.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    path = tmp_path_factory.mktemp("cli") / "demo.sqlite"
    url = f"sqlite:///{path}"
    result = runner.invoke(app, ["run", "--loans", "15", "--days", "75", "--db", url])
    assert result.exit_code == 0, result.output
    assert "Trial balance: {'CNY': 0} -> balanced" in result.output
    assert "Five-tier classification" in result.output
    return url, path


def test_ledger_verify_passes_on_the_demo_book(demo_db) -> None:
    url, _ = demo_db
    result = runner.invoke(app, ["ledger", "verify", "--db", url])
    assert result.exit_code == 0, result.output
    assert "balanced" in result.output


def test_loans_list_and_show_reconcile(demo_db) -> None:
    url, _ = demo_db
    listed = runner.invoke(app, ["loans", "list", "--db", url])
    assert listed.exit_code == 0 and "LN000001" in listed.output
    shown = runner.invoke(app, ["loans", "show", "LN000001", "--json", "--db", url])
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.output)
    assert summary["reconciled"] is True and summary["loan_id"] == "LN000001"
    assert summary["instalments"], "a term loan shows its schedule"


def test_end_of_day_is_idempotent_per_date(demo_db) -> None:
    url, path = demo_db
    first = runner.invoke(app, ["eod", "2026-03-21", "--db", url])
    assert first.exit_code == 0, first.output
    count = sqlite3.connect(path).execute("SELECT count(*) FROM journal_entries").fetchone()[0]
    again = runner.invoke(app, ["eod", "2026-03-21", "--db", url])
    assert again.exit_code == 0 and "0 journal entries posted" in again.output
    assert sqlite3.connect(path).execute("SELECT count(*) FROM journal_entries").fetchone()[0] == count


@pytest.mark.parametrize("args", [
    ["eod", "21/03/2026"],
    ["loans", "show", "NO-SUCH-LOAN"],
    ["loans", "list", "--status", "sleeping"],
])
def test_bad_input_is_refused_with_a_reason(demo_db, args) -> None:
    url, _ = demo_db
    result = runner.invoke(app, args + ["--db", url])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_ledger_verify_fails_after_tampering(demo_db, tmp_path) -> None:
    _, path = demo_db
    copy = tmp_path / "tampered.sqlite"
    with sqlite3.connect(path) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # reads through the WAL: a byte copy could miss recent pages
    control = runner.invoke(app, ["ledger", "verify", "--db", f"sqlite:///{copy}"])
    assert control.exit_code == 0, control.output  # the copy is sound before it is touched
    con = sqlite3.connect(copy)
    con.execute("DROP TRIGGER journal_postings_no_update")  # what an attacker would have to do
    con.execute("UPDATE journal_postings SET amount = amount + 1 WHERE id = 7")
    con.commit()
    con.close()
    result = runner.invoke(app, ["ledger", "verify", "--db", f"sqlite:///{copy}"])
    assert result.exit_code == 1
    assert "FAILED" in result.output


@pytest.mark.parametrize("args", [
    ["ledger", "verify"],
    ["loans", "list"],
    ["loans", "show", "LN000001"],
    ["loans", "refund", "LN000001", "--key", "k1"],
    ["eod", "2026-03-21"],
    ["risk", "monitor", "book"],
    ["risk", "fairness", "book"],
    ["caps", "show"],
    ["caps", "set-fixed", "0.2", "--effective-from", "2099-01-01"],
    ["caps", "set-lpr-multiple", "4", "--effective-from", "2099-01-01"],
    ["caps", "record-lpr", "0.03", "--published-on", "2026-03-20"],
    ["privacy", "export", "AP000001", "--reason", "x"],
    ["privacy", "erase", "AP000001", "--reason", "x"],
    ["privacy", "purge-unconsented"],
    ["privacy", "rotate"],
])
def test_commands_on_a_book_refuse_a_database_that_is_not_there(tmp_path, args) -> None:
    """A mistyped path once became a new empty file that verified as 'balanced'."""
    missing = tmp_path / "typo" / "demo.sqlite"
    result = runner.invoke(app, args + ["--db", f"sqlite:///{missing}"])
    assert result.exit_code == 2, result.output
    assert "no database at" in result.output
    assert not missing.exists() and not missing.parent.exists()
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()  # a file, but no schema
    result = runner.invoke(app, args + ["--db", f"sqlite:///{empty}"])
    assert result.exit_code == 2, result.output
    assert "no Puhui schema" in result.output
    assert sqlite3.connect(empty).execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_eod_refuses_a_date_ahead_of_today_or_behind_the_last_close(demo_db) -> None:
    url, path = demo_db
    count = sqlite3.connect(path).execute("SELECT count(*) FROM journal_entries").fetchone()[0]
    last = sqlite3.connect(path).execute("SELECT max(business_date) FROM business_days").fetchone()[0]
    assert last is not None, "the demo run records the days it closed"
    for day in ("7182-04-11", (date.today() + timedelta(days=2)).isoformat(), "2026-01-01"):
        result = runner.invoke(app, ["eod", day, "--db", url])
        assert result.exit_code == 2, (day, result.output)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM journal_entries").fetchone()[0] == count
