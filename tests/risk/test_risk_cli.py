"""`puhui train german`: figures printed, models registered, exit code gated on AUC."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from puhui.cli.train import train_app
from puhui.risk.german import ENV_VAR, resolve_path
from puhui.risk.model_registry import ModelRegistry

app = typer.Typer()
app.add_typer(train_app, name="train")


@app.command()
def other() -> None:  # a second command keeps `train` a sub-command, as under `puhui`
    pass


@pytest.mark.skipif(not resolve_path().is_file(), reason="German Credit data not available")
def test_train_german_registers_and_gates(tmp_path):
    runner = CliRunner()
    args = ["train", "german", "--repeats", "1", "--folds", "2", "--registry",
            str(tmp_path / "models")]
    result = runner.invoke(app, args + ["--min-auc", "0.99"])
    assert result.exit_code == 1, result.output
    assert "scorecard" in result.output and "gbm" in result.output and "±" in result.output
    records = ModelRegistry(tmp_path / "models").list()
    assert sorted(r.name for r in records) == ["german-gbm", "german-scorecard"]
    assert all(r.metrics["gate"]["passed"] is False for r in records)
    assert all("age_in_years" not in r.params["features"] for r in records)


def test_missing_data_exits_2(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    result = CliRunner().invoke(app, ["train", "german", "--data", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "not found" in result.output
