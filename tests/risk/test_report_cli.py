"""`puhui risk fairness german` and `puhui risk monitor german`, on a small synthetic file with
the German columns and on the real data when it is there."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from puhui.risk.german import (CATEGORICAL_COLUMNS, ENV_VAR, NUMERIC_COLUMNS, TARGET,
                               resolve_path)
from puhui.risk.monitoring import StabilityReference
from puhui.cli.risk import risk_app

app = typer.Typer()
app.add_typer(risk_app, name="risk")


@app.command()
def other() -> None:  # a second command keeps `risk` a sub-command, as under `puhui`
    pass


runner = CliRunner()
german_available = pytest.mark.skipif(not resolve_path().is_file(),
                                      reason="German Credit data not available")


@pytest.fixture(scope="module")
def synthetic_csv(tmp_path_factory) -> str:
    """300 applicants with the German columns; long, large loans and overdrawn accounts
    default more often; personal status in the Statlog codes."""
    rng = np.random.default_rng(11)
    n = 300
    frame = {c: rng.integers(1, 5, n) for c in NUMERIC_COLUMNS}
    frame["duration_in_month"] = rng.integers(6, 61, n)
    frame["credit_amount"] = rng.integers(500, 15000, n)
    frame["age_in_years"] = rng.integers(19, 76, n)
    for column in CATEGORICAL_COLUMNS:
        frame[column] = rng.choice(["x", "y", "z"], n)
    frame["status_of_existing_checking_account"] = rng.choice(["overdrawn", "none"], n)
    frame["personal_status_and_sex"] = rng.choice(["A91", "A92", "A93", "A94", "A95"], n)
    frame["foreign_worker"] = rng.choice(["yes", "no"], n, p=[0.9, 0.1])
    logit = (-2.5 + 0.04 * frame["duration_in_month"] + 0.00005 * frame["credit_amount"]
             + 1.2 * (frame["status_of_existing_checking_account"] == "overdrawn"))
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame[TARGET] = np.where(bad, "bad", "good")
    path = tmp_path_factory.mktemp("synthetic") / "german.csv"
    pd.DataFrame(frame).to_csv(path, index=False)
    return str(path)


def test_fairness_on_synthetic_data(synthetic_csv, tmp_path):
    out = tmp_path / "fairness.json"
    result = runner.invoke(app, ["risk", "fairness", "german", "--data", synthetic_csv,
                                 "--folds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "age_band" in result.output and "foreign_worker" in result.output
    doc = json.loads(out.read_text())
    assert [a["attribute"] for a in doc["attributes"]] == ["sex", "age_band", "foreign_worker"]
    assert doc["applicants"] == 300 and doc["approval_rate"] == pytest.approx(0.7, abs=0.01)
    sex = doc["attributes"][0]
    assert {g["group"] for g in sex["groups"]} == {"female", "male"}
    assert sum(g["applicants"] for g in sex["groups"]) == 300
    assert doc["folds"] == 2 and "70% quantile" in doc["notes"][0]


def test_fairness_cutoff_overrides_the_approval_rate(synthetic_csv, tmp_path):
    out = tmp_path / "all.json"
    result = runner.invoke(app, ["risk", "fairness", "german", "--data", synthetic_csv,
                                 "--folds", "2", "--cutoff", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["approval_rate"] == 1.0
    assert all(a["parity_difference"] == 0.0 and not a["flagged"] for a in doc["attributes"])
    assert "No group differences" in result.output


def test_monitor_on_synthetic_data(synthetic_csv, tmp_path):
    out = tmp_path / "monitor.json"
    result = runner.invoke(app, ["risk", "monitor", "german", "--data", synthetic_csv,
                                 "--folds", "2", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert set(doc["reports"]) == {"holdout", "shifted"}
    shifted = doc["reports"]["shifted"]
    assert [r["subject"] for r in shifted["score_psi"]] == ["score"]
    psi = {r["subject"]: r["psi"] for r in shifted["feature_psi"]}
    holdout = {r["subject"]: r["psi"] for r in doc["reports"]["holdout"]["feature_psi"]}
    assert psi["duration_in_month"] > holdout["duration_in_month"]
    assert "age_in_years" not in psi  # protected attributes are not monitored as inputs
    assert set(shifted["metrics"]) == {"auc", "ks", "gini"}
    reference = StabilityReference.from_json(json.dumps(doc["stability_reference"]))
    assert reference.columns[0] == "score"


def test_missing_data_exits_2(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    for command in ("fairness", "monitor"):
        result = runner.invoke(app, ["risk", command, "german", "--data",
                                     str(tmp_path / "nope.csv")])
        assert result.exit_code == 2 and "not found" in result.output


@german_available
def test_fairness_on_german_data(tmp_path):
    out = tmp_path / "fairness.json"
    result = runner.invoke(app, ["risk", "fairness", "german", "--folds", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    groups = {a["attribute"]: {g["group"]: g["applicants"] for g in a["groups"]}
              for a in doc["attributes"]}
    assert groups["sex"] == {"female": 310, "male": 690}
    assert groups["foreign_worker"] == {"no": 37, "yes": 963}
    assert sum(groups["age_band"].values()) == 1000 and groups["age_band"]["<25"] == 149
    assert doc["approval_rate"] == pytest.approx(0.7, abs=0.005)


@german_available
def test_monitor_on_german_data(tmp_path):
    out = tmp_path / "monitor.json"
    result = runner.invoke(app, ["risk", "monitor", "german", "--folds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    reports = json.loads(out.read_text())["reports"]
    assert reports["holdout"]["score_psi"][0]["psi"] < 0.10
    shifted = {(a["metric"], a["subject"]): a["level"] for a in reports["shifted"]["alerts"]}
    assert shifted[("psi", "duration_in_month")] == "alert"
    assert shifted[("psi", "score")] in ("warn", "alert")
    assert "shifted: ALERT" in result.output
