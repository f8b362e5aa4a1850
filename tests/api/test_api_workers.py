"""The API served by several worker processes: each builds the same platform from the
environment, and `puhui serve --workers` starts them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from puhui.api.workers import (
    ENV_DECIDER,
    ENV_MODELS,
    ENV_POLICIES,
    app_from_environment,
    worker_environment,
)
from puhui.services import access
from puhui.services.platform import Platform
from puhui.store.db import ENV_VAR


def test_the_environment_names_the_platform(tmp_path: Path) -> None:
    env = worker_environment("sqlite:///x.sqlite", "default", tmp_path / "m", tmp_path / "p")
    assert env == {ENV_VAR: "sqlite:///x.sqlite", ENV_DECIDER: "default",
                   ENV_MODELS: str(tmp_path / "m"), ENV_POLICIES: str(tmp_path / "p")}
    assert ENV_VAR not in worker_environment(None, "risk", tmp_path, tmp_path)


def test_a_worker_serves_the_platform_of_its_environment(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    platform = Platform.open(db_url)
    with platform.unit() as session:
        token = access.issue_key(session, "worker test", "partner", "P-W").token
    platform.close()
    monkeypatch.setenv(ENV_VAR, db_url)
    monkeypatch.setenv(ENV_DECIDER, "default")
    with TestClient(app_from_environment()) as client:
        assert client.get("/v1/products").status_code == 401
        products = client.get("/v1/products", headers={"Authorization": f"Bearer {token}"})
        assert products.status_code == 200, products.text  # the key issued on that database


def test_a_worker_refuses_an_unknown_decider(db_url: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, db_url)
    monkeypatch.setenv(ENV_DECIDER, "coin-toss")
    with pytest.raises(ValueError, match="coin-toss"):
        app_from_environment()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="counts worker processes in /proc")
def test_serve_starts_the_workers_it_is_asked_for(tmp_path: Path, spawned_workers) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"sqlite:///{tmp_path / 'served.sqlite'}"
    server = subprocess.Popen(
        [sys.executable, "-m", "puhui.cli", "serve", "--port", str(port), "--db", url,
         "--decider", "default", "--workers", "2"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    try:
        deadline, up = time.monotonic() + 60, False
        while time.monotonic() < deadline and not up:
            try:
                up = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        assert up, "the server did not come up"
        replies = [httpx.get(f"http://127.0.0.1:{port}/v1/products", timeout=5).status_code
                   for _ in range(4)]
        assert replies == [401] * 4  # the real API, keys checked in every worker
        assert len(spawned_workers(server.pid)) == 2
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    assert "2 worker processes" in output


@pytest.mark.parametrize("text, threshold", [
    (None, 50_000), ("", 50_000), (" 700 ", 700), ("10000000", 10_000_000),
    ("699", None), ("10000001", None), ("-1", None), ("5e4", None), ("lots", None)])
def test_the_collector_setting_is_bounded(text, threshold) -> None:
    from puhui.api.workers import gc_young

    if threshold is None:
        with pytest.raises(ValueError, match="PUHUI_GC_YOUNG must be a whole number from 700 "
                                             "to 10000000"):
            gc_young(text)
    else:
        assert gc_young(text) == threshold


def test_a_worker_collects_rarely_and_never_walks_what_it_built_at_start() -> None:
    import gc

    from puhui.api.workers import tune_collector

    before = gc.get_threshold()
    try:
        built = [{"model": i} for i in range(1_000)]  # what a worker holds for its life
        assert tune_collector("20000") == 20_000
        assert gc.get_threshold() == (20_000, *before[1:])
        assert gc.get_freeze_count() >= len(built)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_serve_refuses_a_bad_collector_setting_before_starting(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from puhui.cli import app

    monkeypatch.setenv("PUHUI_GC_YOUNG", "100")
    result = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'p.sqlite'}",
                                      "--decider", "default"])
    assert result.exit_code == 2, result.output
    words = [w for w in result.output.split() if w != "│"]  # the error's box drawn around it
    assert "PUHUI_GC_YOUNG must be a whole number from 700 to 10000000, not '100'" in \
        " ".join(words)
    assert not (tmp_path / "p.sqlite").exists()  # refused before anything was opened
