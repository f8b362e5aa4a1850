"""PUHUI_SERVER_TIMING=1: each response says where its server time went, stage by stage."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from puhui.api.app import create_app
from puhui.services import stages
from puhui.services.platform import Platform


def test_stages_are_answered_only_when_asked(tmp_path, monkeypatch) -> None:
    platform = Platform.open(f"sqlite:///{tmp_path / 'timing.sqlite'}")
    try:
        plain = TestClient(create_app(platform))
        assert "server-timing" not in plain.get("/health").headers
        monkeypatch.setenv(stages.ENV, "1")
        app = create_app(platform)

        @app.get("/timed-for-test", include_in_schema=False)
        def timed() -> dict:
            with stages.stage("providers"):
                sum(range(10_000))
            with stages.stage("write"):
                pass
            with stages.stage("providers"):  # a stage entered twice adds up
                pass
            return {}

        header = TestClient(app).get("/timed-for-test").headers["server-timing"]
        parts = dict(re.findall(r'(\w+);dur=([\d.]+);desc="cpu [\d.]+"', header))
        assert set(parts) == {"providers", "write"} and float(parts["providers"]) > 0
        assert "server-timing" not in TestClient(app).get("/health").headers  # nothing timed
    finally:
        platform.close()


def test_outside_a_request_a_stage_costs_nothing_and_records_nothing() -> None:
    with stages.stage("anything"):
        pass
    with stages.timing() as timings:
        with stages.stage("a"):
            pass
    assert list(timings) == ["a"]
    assert stages.server_timing({"a": [0.0015, 0.001]}) == 'a;dur=1.500;desc="cpu 1.000"'
