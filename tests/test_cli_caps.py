"""`puhui caps`: show the cap in force, record versions and LPRs; refusals exit 2 with why."""

from __future__ import annotations

from datetime import timedelta

from typer.testing import CliRunner

from puhui.cli import app
from puhui.services.clock import SystemClock, business_date
from puhui.services.platform import Platform

runner = CliRunner()


def test_caps_commands_record_and_show_the_setting(tmp_path) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'caps.sqlite'}"]
    Platform.open(db[1]).close()  # the book the commands act on (they never create one)
    today = business_date(SystemClock())
    tomorrow = (today + timedelta(days=1)).isoformat()

    def run(*args: str):
        return runner.invoke(app, ["caps", *args, *db], terminal_width=200)

    r = run("show")
    assert r.exit_code == 0, r.output
    assert "Rate cap on" in r.output and "0.24 (24% comprehensive cost cap), version 1" in r.output
    r = run("record-lpr", "0.0300", "--published-on", today.isoformat())
    assert r.exit_code == 0 and f"in effect from {today}" in r.output, r.output
    r = run("set-lpr-multiple", "4", "--effective-from", tomorrow, "--note", "board")
    assert r.exit_code == 0 and "cap version 2" in r.output, r.output
    r = run("show", "--on", tomorrow)
    assert r.exit_code == 0 and "0.12 (4x one-year LPR rate cap (LPR 3% published" in r.output
    assert "version 2, LPR 0.03" in r.output
    r = run("show")
    assert "version 1" in r.output.split("\n")[0]
    for bad in (["set-fixed", "0.5", "--effective-from", tomorrow],
                ["set-fixed", "0.2", "--effective-from", (today - timedelta(days=1)).isoformat()],
                ["set-lpr-multiple", "11", "--effective-from", tomorrow],
                ["record-lpr", "0.03", "--published-on", tomorrow]):
        r = run(*bad)
        assert r.exit_code == 2 and "refused:" in r.output, (bad, r.output)
    r = run("set-fixed", "0.2", "--effective-from", "tomorrow")
    assert r.exit_code == 2 and "is not a date" in r.output
    r = run("show")
    assert "│ 3" not in r.output  # nothing refused was recorded
