"""`puhui policy validate | register | activate | list | show`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from decision_samples import DOC, POLICY, doc
from puhui.cli import app
from puhui.cli.policy import policy_app
from puhui.decision.policy import default_policy
from puhui.decision.policy_registry import PolicyRegistry

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    good, bad, other = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "other.json"
    good.write_text(json.dumps(DOC), encoding="utf-8")
    broken = doc()
    broken["pricing"]["grade_rates"]["A"] = 0.08
    broken["knockouts"][0]["when"] = {"fact": "owner_years", "op": "<", "value": 18}
    bad.write_text(json.dumps(broken), encoding="utf-8")
    other.write_text(json.dumps(doc(description="changed")), encoding="utf-8")
    return good, bad, other, tmp_path / "registry"


def test_validate(files):
    good, bad, _, _ = files
    result = runner.invoke(policy_app, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    assert f"valid: test-policy {POLICY.identity}" in result.output
    result = runner.invoke(policy_app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "pricing.grade_rates.A: write exact decimals as strings" in result.output
    result = runner.invoke(policy_app, ["validate", str(good.parent / "absent.json")])
    assert result.exit_code == 1 and "no policy file" in result.output


def test_register_activate_list_show(files):
    good, _, other, registry = files
    reg = ["--registry", str(registry)]
    result = runner.invoke(policy_app, ["register", str(good), *reg])
    assert result.exit_code == 0 and f"registered test-1 (sha256 {POLICY.sha256[:12]})" \
        in result.output
    result = runner.invoke(policy_app, ["show", *reg])
    assert result.exit_code == 1 and "no policy has been activated" in result.output
    result = runner.invoke(policy_app, ["activate", "test-1", *reg])
    assert result.exit_code == 0 and "active: test-1" in result.output
    result = runner.invoke(policy_app, ["show", *reg])
    assert result.exit_code == 0 and json.loads(result.output) == json.loads(
        POLICY.canonical_json())
    result = runner.invoke(policy_app, ["register", str(other), *reg])
    assert result.exit_code == 1 and "needs a new version" in result.output
    shipped = good.parent / "shipped.json"
    shipped.write_text(default_policy().canonical_json(), encoding="utf-8")
    result = runner.invoke(policy_app, ["register", str(shipped), "--activate", *reg])
    assert result.exit_code == 0 and "; active" in result.output
    assert PolicyRegistry(registry).active_version() == "sme-2026.11"
    result = runner.invoke(policy_app, ["list", *reg])
    assert result.exit_code == 0
    rows = {line.split("│")[2].strip(): line.split("│")[1].strip()
            for line in result.output.splitlines()
            if line.startswith("│ ") and "version" not in line}
    rows.pop("", None)  # a wrapped cell's continuation line
    assert rows == {"test-1": "", "sme-2026.11": "*"}
    result = runner.invoke(policy_app, ["show", "test-1", *reg])
    assert result.exit_code == 0 and json.loads(result.output)["version"] == "test-1"
    result = runner.invoke(policy_app, ["show", "nope", *reg])
    assert result.exit_code == 1 and "no policy version 'nope'" in result.output
    result = runner.invoke(policy_app, ["activate", "nope", *reg])
    assert result.exit_code == 1


def test_the_policy_command_is_mounted_on_puhui(files):
    good, _, _, _ = files
    result = runner.invoke(app, ["policy", "validate", str(good)])
    assert result.exit_code == 0 and "valid:" in result.output
