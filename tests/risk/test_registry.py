"""The file-based model registry: round trip, listing, and refusing tampered artefacts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from puhui.risk.errors import (ArtefactTampered, RegistryError, RiskError,
                               UnknownModelVersion)
from puhui.risk.gbm import GradientBoostingModel
from puhui.risk.model_registry import (ARTEFACT, MANIFEST, ModelRegistry, data_fingerprint,
                                 file_fingerprint, sha256)
from puhui.risk.scorecard import Scorecard
from risk_samples import constructed

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def data():
    return constructed(n=800)


@pytest.fixture(scope="module")
def card(data):
    return Scorecard().fit(*data)


@pytest.fixture
def registry(tmp_path, data, card):
    reg = ModelRegistry(tmp_path / "models")
    reg.register("german-scorecard", card, data_fingerprint=data_fingerprint(*data),
                 metrics={"mean": {"auc": 0.79}}, params=card.get_params(), created_at=T0)
    return reg


def test_register_and_load_round_trip(registry, data, card):
    X, y = data
    (record,) = registry.list()
    assert record.version == f"german-scorecard-20260301T120000Z-{record.sha256[:8]}"
    assert record.created_at == T0 and record.metrics == {"mean": {"auc": 0.79}}
    assert record.data_fingerprint == data_fingerprint(X, y)
    assert record.params["pdo"] == 20.0
    folder = registry.root / record.version
    assert sha256((folder / ARTEFACT).read_bytes()) == record.sha256
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["created_at"] == "2026-03-01T12:00:00Z"
    assert manifest["format"] == "puhui.scorecard/1"
    loaded = registry.load(record.version)
    assert np.array_equal(loaded.score(X), card.score(X))


def test_list_latest_and_several_kinds(registry, data):
    X, y = data
    gbm = GradientBoostingModel(n_estimators=20).fit(X, y)
    later = registry.register("german-gbm", gbm, data_fingerprint=data_fingerprint(X, y),
                              metrics={}, created_at=T0 + timedelta(minutes=1))
    assert [r.name for r in registry.list()] == ["german-scorecard", "german-gbm"]
    assert registry.latest("german-gbm") == later
    assert isinstance(registry.load(later.version), GradientBoostingModel)
    assert ModelRegistry(registry.root / "empty").list() == []
    with pytest.raises(UnknownModelVersion):
        registry.latest("nothing")


def test_tampered_artefact_refused(registry):
    (record,) = registry.list()
    path = registry.root / record.version / ARTEFACT
    doc = json.loads(path.read_bytes())
    doc["intercept"] += 0.5  # a quiet change to every score
    path.write_text(json.dumps(doc, sort_keys=True))
    with pytest.raises(ArtefactTampered) as err:
        registry.load(record.version)
    assert isinstance(err.value, RiskError)
    path.unlink()
    with pytest.raises(ArtefactTampered):
        registry.load(record.version)


def test_unknown_versions_and_bad_input(registry, card):
    for version in ("german-scorecard-20260301T120000Z-00000000", "../models", "", 7):
        with pytest.raises(UnknownModelVersion):
            registry.load(version)
    with pytest.raises(RegistryError):
        registry.register("Bad Name", card, data_fingerprint="x", metrics={})
    with pytest.raises(RegistryError):
        registry.register("ok", card, data_fingerprint="x", metrics={},
                          created_at=datetime(2026, 3, 1))  # naive: which zone?
    with pytest.raises(RegistryError):  # the same artefact at the same second
        registry.register("german-scorecard", card, data_fingerprint="x", metrics={},
                          created_at=T0)


def test_fingerprints(tmp_path, data):
    X, y = data
    assert data_fingerprint(X, y) == data_fingerprint(X.copy(), y.copy())
    assert data_fingerprint(X, y) != data_fingerprint(X, 1 - y)
    assert data_fingerprint(X, y) != data_fingerprint(X.iloc[::-1], y.iloc[::-1])
    f = tmp_path / "d.csv"
    f.write_bytes(b"a,b\n1,2\n")
    assert file_fingerprint(f) == sha256(b"a,b\n1,2\n")
