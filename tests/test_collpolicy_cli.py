"""`puhui collections-policy validate | register | activate | list | show`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from puhui.cli import app
from puhui.collections.policy import load_collections_policy, shipped_collections_policy

runner = CliRunner()
SHIPPED = shipped_collections_policy()


def _cli(*args: str):
    return runner.invoke(app, ["collections-policy", *args], terminal_width=200)


def test_validate_register_activate_list_show(tmp_path) -> None:
    good, bad, newer = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "newer.json"
    good.write_text(SHIPPED.canonical_json(), encoding="utf-8")
    doc = json.loads(SHIPPED.canonical_json())
    doc["contact"]["latest"] = "22:00"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    doc["contact"]["latest"] = "20:00"
    doc["version"] = "collections-2027.01"
    newer.write_text(json.dumps(doc), encoding="utf-8")
    registry = str(tmp_path / "registry")

    result = _cli("validate", str(good))
    assert result.exit_code == 0 and SHIPPED.identity in result.output, result.output
    assert "contact 08:00-21:00 Asia/Shanghai" in result.output
    result = _cli("validate", str(bad))
    assert result.exit_code == 1 and "contact.latest: no contact after 21:00" in result.output
    result = _cli("validate", str(tmp_path / "missing.json"))
    assert result.exit_code == 1 and "no collections policy file" in result.output
    # nothing active: show prints the shipped document
    result = _cli("show", "--registry", registry)
    assert result.exit_code == 0 and json.loads(result.output)["version"] == SHIPPED.version
    result = _cli("register", str(good), "--activate", "--registry", registry)
    assert result.exit_code == 0 and "active" in result.output, result.output
    result = _cli("register", str(newer), "--registry", registry)
    assert result.exit_code == 0 and "collections-2027.01" in result.output, result.output
    result = _cli("list", "--registry", registry)
    assert result.exit_code == 0 and "*" in result.output  # the active one marked
    newer_sha = load_collections_policy(newer.read_bytes()).sha256  # (versions may be cut)
    assert SHIPPED.sha256[:12] in result.output and newer_sha[:12] in result.output
    result = _cli("activate", "collections-2027.01", "--registry", registry)
    assert result.exit_code == 0 and "active: collections-2027.01" in result.output
    result = _cli("show", "--registry", registry)
    shown = json.loads(result.output)
    assert shown["version"] == "collections-2027.01" and shown["contact"]["latest"] == "20:00"
    result = _cli("show", "default-2026-12", "--registry", registry)
    assert json.loads(result.output)["contact"]["latest"] == "21:00"
    # a version reused with other content, an unknown version: refused
    doc["contact"]["latest"] = "19:00"
    newer.write_text(json.dumps(doc), encoding="utf-8")
    result = _cli("register", str(newer), "--registry", registry)
    assert result.exit_code == 1 and "already registered with different content" in result.output
    result = _cli("activate", "nope", "--registry", registry)
    assert result.exit_code == 1
