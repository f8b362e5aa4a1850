"""The policy registry: content-addressed versions, activation, and refusing tampering."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from decision_samples import DOC, POLICY, doc
from puhui.decision.errors import (InvalidPolicy, NoActivePolicy, PolicyRegistryError,
                                   PolicyTampered, PolicyVersionConflict, UnknownPolicyVersion)
from puhui.decision.policy import default_policy
from puhui.decision.policy_registry import (ACTIVE, DOCUMENT, LOG, MANIFEST, PolicyRecord,
                                     PolicyRegistry)

T0 = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def registry(tmp_path) -> PolicyRegistry:
    reg = PolicyRegistry(tmp_path / "policies")
    reg.register(DOC, registered_at=T0)
    return reg


def test_register_stores_the_canonical_document_and_its_hash(registry):
    (record,) = registry.list()
    assert record == PolicyRecord("test-1", "test-policy", POLICY.sha256,
                                  len(POLICY.canonical_json().encode()), POLICY.effective_from, T0)
    folder = registry.root / "test-1"
    assert (folder / DOCUMENT).read_text(encoding="utf-8") == POLICY.canonical_json()
    assert hashlib.sha256((folder / DOCUMENT).read_bytes()).hexdigest() == record.sha256
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["registered_at"] == "2026-11-01T09:30:00Z"
    assert registry.load("test-1") == POLICY
    assert not [p for p in registry.root.iterdir() if p.name.startswith(".staging")]


def test_the_same_content_again_is_a_no_op_different_content_is_refused(registry):
    later = T0 + timedelta(days=1)
    assert registry.register(json.dumps(DOC, indent=2), registered_at=later).registered_at == T0
    changed = doc(description="a different description is different content")
    with pytest.raises(PolicyVersionConflict, match="already registered with different content"):
        registry.register(changed)
    record = registry.register({**changed, "version": "test-2"}, registered_at=later)
    assert [r.version for r in registry.list()] == ["test-1", "test-2"]
    assert record.sha256 != POLICY.sha256 and registry.load("test-2").description.startswith("a d")


def test_activation_is_what_active_returns_and_is_logged(registry):
    with pytest.raises(NoActivePolicy):
        registry.active()
    registry.register({**DOC, "version": "test-2"}, registered_at=T0)
    registry.activate("test-1", activated_at=T0)
    assert registry.active() == POLICY and registry.active_version() == "test-1"
    registry.activate("test-2", activated_at=T0 + timedelta(hours=1))
    assert registry.active().version == "test-2"
    assert [(a["version"], a["activated_at"]) for a in registry.activations()] == [
        ("test-1", "2026-11-01T09:30:00Z"), ("test-2", "2026-11-01T10:30:00Z")]
    assert json.loads((registry.root / ACTIVE).read_text())["version"] == "test-2"
    assert (registry.root / LOG).exists()


@pytest.mark.parametrize("version", ["test-9", "../test-1", "", "a/b", 7])
def test_unknown_versions(registry, version):
    with pytest.raises(UnknownPolicyVersion):
        registry.load(version)
    with pytest.raises(UnknownPolicyVersion):
        registry.activate(version)


def test_an_edited_document_is_refused(registry):
    path = registry.root / "test-1" / DOCUMENT
    path.write_text(path.read_text().replace('"0.1200"', '"0.0100"'), encoding="utf-8")
    with pytest.raises(PolicyTampered, match="does not match its recorded sha256"):
        registry.load("test-1")
    with pytest.raises(PolicyTampered):
        registry.activate("test-1")


def test_a_rewritten_manifest_with_a_non_canonical_document_is_refused(registry):
    folder = registry.root / "test-1"
    pretty = json.dumps(json.loads((folder / DOCUMENT).read_text()), indent=1).encode()
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["sha256"] = hashlib.sha256(pretty).hexdigest()
    (folder / DOCUMENT).write_bytes(pretty)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(PolicyTampered, match="not in canonical form"):
        registry.load("test-1")


def test_other_kinds_of_damage(registry):
    registry.activate("test-1")
    folder = registry.root / "test-1"
    (folder / DOCUMENT).unlink()
    with pytest.raises(PolicyTampered, match="missing"):
        registry.active()
    (folder / MANIFEST).write_text("{", encoding="utf-8")
    with pytest.raises(PolicyRegistryError, match="is not JSON"):
        registry.load("test-1")
    (folder / MANIFEST).write_text(json.dumps({"version": "test-1"}), encoding="utf-8")
    with pytest.raises(PolicyRegistryError, match="malformed policy manifest"):
        registry.load("test-1")
    (registry.root / ACTIVE).write_text("nonsense", encoding="utf-8")
    with pytest.raises(PolicyTampered, match="pointer is unreadable"):
        registry.active()


def test_a_version_changed_after_activation_is_noticed(registry):
    registry.activate("test-1")
    pointer = json.loads((registry.root / ACTIVE).read_text())
    pointer["sha256"] = "f" * 64
    (registry.root / ACTIVE).write_text(json.dumps(pointer))
    with pytest.raises(PolicyTampered, match="changed since it was activated"):
        registry.active()


def test_invalid_documents_and_bad_timestamps_are_refused(tmp_path):
    registry = PolicyRegistry(tmp_path)
    with pytest.raises(InvalidPolicy):
        registry.register({"version": "x"})
    with pytest.raises(PolicyRegistryError, match="timezone-aware"):
        registry.register(DOC, registered_at=datetime(2026, 11, 1))
    assert registry.list() == [] and PolicyRegistry(tmp_path / "nothing").list() == []


def test_the_shipped_policy_registers_and_activates(tmp_path):
    registry = PolicyRegistry(tmp_path)
    record = registry.register(default_policy())
    registry.activate(record.version)
    assert registry.active() == default_policy() and record.version == "sme-2026.11"
