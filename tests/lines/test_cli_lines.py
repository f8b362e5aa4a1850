"""`puhui lines`: list, show, draw, freeze and unfreeze on an existing book; refusals exit 2."""

from __future__ import annotations

from typer.testing import CliRunner

from puhui.cli import app
from puhui.services import lines as svc
from puhui.services.access import SYSTEM
from puhui.services.clock import ManualClock, SystemClock, at_business_date, business_date
from puhui.services.gateway import SandboxGateway
from puhui.services.platform import Platform

from lines_samples import granted_line

runner = CliRunner()


def test_lines_commands(tmp_path, monkeypatch) -> None:
    from rich.console import Console

    import puhui.cli.common as cli_common
    import puhui.cli.lines as cli_lines

    wide = Console(width=250)
    monkeypatch.setattr(cli_lines, "console", wide)
    monkeypatch.setattr(cli_common, "console", wide)
    url = f"sqlite:///{tmp_path / 'lines.sqlite'}"
    today = business_date(SystemClock())
    p = Platform.open(url, clock=ManualClock(at_business_date(today)), gateway=SandboxGateway())
    try:
        line = granted_line(p, "SME-EI-12")
    finally:
        p.close()
    line_id = line["line_id"]

    def run(*args: str):
        return runner.invoke(app, ["lines", *args, "--db", url], terminal_width=200)

    r = run("list")
    assert r.exit_code == 0 and line_id in r.output and "active" in r.output, r.output
    r = run("draw", line_id, "2000000", "--key", "cli-1")
    assert r.exit_code == 0 and "20,000.00 drawn" in r.output, r.output
    r = run("draw", line_id, "2000000", "--key", "cli-1")
    assert r.exit_code == 0 and "(replayed)" in r.output, r.output
    r = run("draw", line_id, str(line["limit"]), "--key", "cli-2")
    assert r.exit_code == 2 and "refused:" in r.output and "available" in r.output, r.output
    r = run("freeze", line_id, "--reason", "sales collapsed", "--key", "f1")
    assert r.exit_code == 0 and "frozen" in r.output, r.output
    r = run("draw", line_id, "1000000", "--key", "cli-3")
    assert r.exit_code == 2 and "frozen" in r.output, r.output
    r = run("unfreeze", line_id, "--reason", "sales back", "--key", "u1")
    assert r.exit_code == 0 and "unfrozen" in r.output, r.output
    r = run("show", line_id)
    assert r.exit_code == 0, r.output
    for kind in ("granted", "draw", "frozen", "unfrozen"):
        assert kind in r.output
    r = run("show", "CL-nope")
    assert r.exit_code == 2 and "no credit line" in r.output
    p = Platform.open(url)
    try:
        with p.read() as s:
            shown = svc.get_line(p, s, SYSTEM, line_id)
    finally:
        p.close()
    assert shown["drawn"] == 2_000_000 and shown["status"] == "active"
    assert [e["kind"] for e in shown["events"]] == ["granted", "draw", "frozen", "unfrozen"]
