"""The German Credit loader: target coding, protected attributes kept apart, clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from puhui.errors import PuhuiError
from puhui.risk.errors import DatasetMissing, ProtectedAttributeUsed, RiskDataError
from puhui.risk.gbm import GradientBoostingModel
from puhui.risk.german import ENV_VAR, PROTECTED_ATTRIBUTES, TARGET, load_german, resolve_path
from puhui.risk.scorecard import Scorecard

if not resolve_path().is_file():
    pytest.skip("German Credit data not available", allow_module_level=True)


@pytest.fixture(scope="module")
def data():
    return load_german()


def test_shape_and_target_coding(data):
    raw = pd.read_csv(data.source)
    assert data.X.shape == (1000, 17) and len(data.y) == 1000
    assert data.y.sum() == 300  # 300 bad loans, coded 1
    assert ((raw[TARGET] == "bad").astype(int).to_numpy() == data.y.to_numpy()).all()


def test_protected_attributes_are_separate(data):
    assert set(data.protected.columns) == set(PROTECTED_ATTRIBUTES)
    assert not set(data.X.columns) & set(PROTECTED_ATTRIBUTES)
    assert TARGET not in data.X.columns


def test_protected_attributes_are_not_model_inputs(data):
    sc = Scorecard(min_iv=0.0).fit(data.X, data.y)
    assert not {c.name for c in sc.characteristics_} & set(PROTECTED_ATTRIBUTES)
    assert not set(sc.feature_names_in_) & set(PROTECTED_ATTRIBUTES)
    with_protected = pd.concat([data.X, data.protected], axis=1)
    for model in (Scorecard(), GradientBoostingModel(n_estimators=5, calibration=None)):
        with pytest.raises(ProtectedAttributeUsed):
            model.fit(with_protected, data.y)
    # scoring ignores them even when a caller passes them along
    assert (sc.score(with_protected) == sc.score(data.X)).all()


def test_explicit_path_and_env_var(tmp_path, monkeypatch, data):
    copy = tmp_path / "g.csv"
    copy.write_bytes(data.source.read_bytes())
    assert load_german(copy).source == copy
    monkeypatch.setenv(ENV_VAR, str(copy))
    assert resolve_path() == copy and load_german().source == copy


def test_missing_file_is_a_clear_typed_error(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope.csv"))
    with pytest.raises(DatasetMissing, match=ENV_VAR) as err:
        load_german()
    assert isinstance(err.value, PuhuiError) and isinstance(err.value, FileNotFoundError)


def test_wrong_labels_or_columns_refused(tmp_path, data):
    raw = pd.read_csv(data.source)
    bad = tmp_path / "labels.csv"
    raw.assign(**{TARGET: "maybe"}).to_csv(bad, index=False)
    with pytest.raises(RiskDataError, match="good"):
        load_german(bad)
    short = tmp_path / "short.csv"
    raw.drop(columns=["purpose"]).to_csv(short, index=False)
    with pytest.raises(RiskDataError, match="purpose"):
        load_german(short)
