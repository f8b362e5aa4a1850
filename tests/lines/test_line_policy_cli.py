"""`puhui line-policy validate | register | activate | list | show`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from puhui.cli import app
from puhui.lines.policy import default_line_policy

runner = CliRunner()
SHIPPED = default_line_policy()


def test_validate_register_activate_show(tmp_path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(SHIPPED.canonical_json(), encoding="utf-8")
    doc = json.loads(SHIPPED.canonical_json())
    doc["rules"][2]["urgent"] = True
    bad.write_text(json.dumps(doc), encoding="utf-8")
    registry = str(tmp_path / "registry")
    result = runner.invoke(app, ["line-policy", "validate", str(good)])
    assert result.exit_code == 0 and SHIPPED.identity in result.output, result.output
    result = runner.invoke(app, ["line-policy", "validate", str(bad)])
    assert result.exit_code == 1 and "rules[2].urgent" in result.output
    result = runner.invoke(app, ["line-policy", "register", str(good), "--activate",
                                 "--registry", registry])
    assert result.exit_code == 0 and "active" in result.output, result.output
    result = runner.invoke(app, ["line-policy", "list", "--registry", registry])
    assert result.exit_code == 0 and "*" in result.output and "lines-" in result.output
    result = runner.invoke(app, ["line-policy", "show", "--registry", registry])
    assert json.loads(result.output)["version"] == "lines-2026.12"
    result = runner.invoke(app, ["line-policy", "activate", "nope", "--registry", registry])
    assert result.exit_code == 1
