"""Data providers asked over real HTTP (fake sources served by the test suite on 127.0.0.1):
slow, failing, flapping and malformed sources, the circuit breaker seen from the server's side,
concurrency, and the deadline that bounds the whole collection."""

from __future__ import annotations

from datetime import date

import json

import pytest

from puhui.parties.consent import DataScope
from puhui.risk.data.connectors import ConnectorSet, Received
from puhui.risk.data.payload import parse_payload
from puhui.risk.data.resilience import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    SourcePolicy,
    SourceSettings,
)
from puhui.risk.errors import (
    InvalidParameter,
    InvalidRecord,
    SourceFailed,
    SourceUnavailable,
)
from puhui.services.sources import HttpConnector, fetch_all

from fake_sources import Answer, FakeSources, garbage, ok, status, timed

AS_OF = date(2026, 3, 1)
BUSINESS = "91310000MA1FL3KX2A"
FAST = SourcePolicy(timeout=0.5, retries=2, backoff=0.005, backoff_max=0.01)


class Clock:
    """A monotonic clock the test moves by hand (breaker cool-downs without waiting)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def sources(server: FakeSources, *scopes: str, policy: SourcePolicy = FAST,
            deadline: float = 2.0, clock=None) -> ConnectorSet:
    settings = SourceSettings(default=policy, deadline=deadline)
    connectors = [HttpConnector(scope, server.url) for scope in scopes]
    return ConnectorSet(connectors, settings) if clock is None else \
        ConnectorSet(connectors, settings, clock=clock)


def ask(connectors: ConnectorSet, *scopes: str) -> dict:
    return {s.value: v for s, v in fetch_all(connectors, BUSINESS, AS_OF,
                                             scopes or list(connectors)).items()}


def test_a_healthy_source_answers_its_payload_over_http() -> None:
    with FakeSources() as server:
        got = ask(sources(server, "bureau"))
    sent = {"business_id": BUSINESS, "as_of": "2026-03-01", "records": []}
    assert got["bureau"] == Received(json.dumps(sent).encode(), sent)  # the bytes as sent
    assert parse_payload("bureau", got["bureau"].payload).business_id == BUSINESS
    assert server.asked == [("bureau", BUSINESS, "2026-03-01")]  # GET /bureau/<id>?as_of=...


def test_sources_are_asked_concurrently() -> None:
    with FakeSources() as server:
        for scope in ("tax", "sales", "bureau"):
            server.script(scope, ok(delay=0.2))
        connectors = sources(server, "tax", "sales", "bureau")
        got, seconds = timed(lambda: ask(connectors))
    assert all(isinstance(v, Received) for v in got.values()), got
    assert 0.2 <= seconds < 0.5, f"3 sources of 200 ms each took {seconds:.3f} s"  # not 0.6


def test_a_slow_source_times_out_and_is_reported_missing_within_bounds() -> None:
    with FakeSources() as server:
        server.script("bureau", ok(delay=1.5))
        policy = SourcePolicy(timeout=0.1, retries=1, backoff=0.01, backoff_max=0.01)
        connectors = sources(server, "tax", "bureau", policy=policy)
        got, seconds = timed(lambda: ask(connectors))
    assert isinstance(got["tax"], Received)  # the others are not held up
    failed = got["bureau"]
    assert isinstance(failed, SourceFailed) and failed.transient
    assert str(failed).startswith(f"bureau source at {server.url}: no answer within 100 ms")
    assert "(2 attempts)" in str(failed) and server.requests["bureau"] == 2
    assert seconds < 0.8  # not the 1.5 s the source takes


def test_the_deadline_bounds_the_whole_collection() -> None:
    with FakeSources() as server:
        server.script("bureau", ok(delay=3))
        server.script("tax", ok(delay=3))
        policy = SourcePolicy(timeout=2, retries=5, backoff=0.01, backoff_max=0.01)
        connectors = sources(server, "tax", "bureau", policy=policy, deadline=0.3)
        got, seconds = timed(lambda: ask(connectors))
    assert seconds < 1.0  # the 0.3 s deadline, not the 2 s timeout nor the 3 s sources
    for scope in ("tax", "bureau"):
        assert isinstance(got[scope], SourceFailed), got[scope]
        assert str(got[scope]).startswith(f"{scope} source at")
        assert "no answer within" in str(got[scope])


def test_a_failing_source_is_retried_then_reported() -> None:
    with FakeSources() as server:
        server.script("bureau", status(503))
        got = ask(sources(server, "bureau"))
    failed = got["bureau"]
    assert isinstance(failed, SourceFailed) and failed.transient and failed.attempts == 3
    assert str(failed) == f"bureau source at {server.url}: answered HTTP 503 (3 attempts)"
    assert server.requests["bureau"] == 3  # the first try and two retries


def test_a_flapping_source_recovers_on_a_retry() -> None:
    with FakeSources() as server:
        server.script("sales", status(500), Answer(502, b"", 0.0), ok())
        got = ask(sources(server, "sales"))
    assert got["sales"].payload["business_id"] == BUSINESS
    assert server.requests["sales"] == 3


def test_a_client_error_is_not_retried_and_404_means_no_data() -> None:
    with FakeSources() as server:
        server.script("tax", status(403))
        server.script("logistics", status(404))
        got = ask(sources(server, "tax", "logistics"))
    assert isinstance(got["tax"], SourceFailed) and not got["tax"].transient
    assert str(got["tax"]) == f"tax source at {server.url}: refused the request: HTTP 403"
    assert isinstance(got["logistics"], SourceUnavailable)
    assert "holds nothing" in str(got["logistics"])
    assert server.requests["tax"] == 1 and server.requests["logistics"] == 1


def test_a_body_that_is_not_json_is_rejected_naming_the_source() -> None:
    with FakeSources() as server:
        server.script("utility", garbage())
        got = ask(sources(server, "utility"))
    failed = got["utility"]
    assert isinstance(failed, SourceFailed) and not failed.transient
    assert str(failed).startswith(f"utility source at {server.url}: answered a body that is "
                                  f"not JSON (text/html")
    assert server.requests["utility"] == 1  # garbage again would not help


def test_json_of_the_wrong_shape_is_left_to_validation_which_names_the_source() -> None:
    with FakeSources() as server:
        server.script("sales", Answer(200, [1, 2, 3]))
        server.script("bureau", Answer(200, {"business_id": BUSINESS}))
        got = ask(sources(server, "sales", "bureau"))
    with pytest.raises(InvalidRecord, match="^sales payload.*JSON object, not list"):
        parse_payload("sales", got["sales"].payload)
    with pytest.raises(InvalidRecord, match="^bureau payload, field as_of"):
        parse_payload("bureau", got["bureau"].payload)


def test_the_breaker_opens_after_repeated_failures_and_fails_fast() -> None:
    clock = Clock()
    policy = SourcePolicy(timeout=0.5, retries=0, breaker_failures=3, breaker_cooldown=30)
    with FakeSources() as server:
        server.script("bureau", status(500))
        connectors = sources(server, "bureau", policy=policy, clock=clock)
        for _ in range(3):
            assert "answered HTTP 500" in str(ask(connectors)["bureau"])
        assert connectors.breakers[DataScope.BUREAU].state == OPEN
        for _ in range(5):  # the server is not asked while the circuit is open
            failed, seconds = timed(lambda: ask(connectors)["bureau"])
            assert "circuit open" in str(failed) and str(failed).startswith("bureau source")
            assert seconds < 0.2  # no request: the server's count below proves it
        assert server.requests["bureau"] == 3

        server.script("bureau", ok())  # it recovers; after the cool-down one trial goes through
        clock.now += 29
        assert "circuit open" in str(ask(connectors)["bureau"])
        clock.now += 1
        assert connectors.breakers[DataScope.BUREAU].state == HALF_OPEN
        assert ask(connectors)["bureau"].payload["business_id"] == BUSINESS
        assert connectors.breakers[DataScope.BUREAU].state == CLOSED
        assert server.requests["bureau"] == 4


def test_a_failed_trial_opens_the_breaker_again() -> None:
    clock = Clock()
    policy = SourcePolicy(timeout=0.5, retries=2, backoff=0.001, backoff_max=0.001,
                          breaker_failures=2, breaker_cooldown=10)
    with FakeSources() as server:
        server.script("bank_statement", status(502))
        connectors = sources(server, "bank_statement", policy=policy, clock=clock)
        failed = ask(connectors)["bank_statement"]
        # two failures open the circuit: the second retry is not sent
        assert "answered HTTP 502; circuit open" in str(failed)
        assert server.requests["bank_statement"] == 2
        clock.now += 10
        failed = ask(connectors)["bank_statement"]  # the trial fails: open again at once
        assert "answered HTTP 502; circuit open" in str(failed)
        assert server.requests["bank_statement"] == 3
        assert connectors.breakers[DataScope.BANK_STATEMENT].state == OPEN


def test_breakers_are_per_source() -> None:
    clock = Clock()
    policy = SourcePolicy(timeout=0.5, retries=0, breaker_failures=1)
    with FakeSources() as server:
        server.script("bureau", status(500))
        connectors = sources(server, "bureau", "tax", policy=policy, clock=clock)
        ask(connectors)
        got = ask(connectors)
    assert "circuit open" in str(got["bureau"]) and isinstance(got["tax"], Received)
    assert server.requests["tax"] == 2


def test_a_source_that_cannot_be_reached_is_reported() -> None:
    with FakeSources() as server:
        url = server.url
    connectors = ConnectorSet([HttpConnector("tax", url)], SourceSettings(default=FAST))
    failed = ask(connectors)["tax"]  # the server is gone: connection refused, retried
    assert isinstance(failed, SourceFailed) and failed.transient and failed.attempts == 3
    assert str(failed).startswith(f"tax source at {url}: could not be reached (ConnectError")


def test_a_bad_base_url_or_scope_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="http:// or https://"):
        HttpConnector("tax", "127.0.0.1:8000")
    with pytest.raises(InvalidRecord, match="not a business-data source"):
        HttpConnector("identity", "http://127.0.0.1:8000")
    with pytest.raises(InvalidParameter, match="no connector for sales"):
        fetch_all(ConnectorSet([HttpConnector("tax", "http://127.0.0.1:9")]), BUSINESS, AS_OF,
                  ["sales"])


def test_the_platform_asks_the_sources_the_environment_points_at() -> None:
    from puhui.services.providers import WorldProvider, world_connectors

    world = object()  # not asked here
    env = {"PUHUI_SOURCE_BUREAU_URL": "https://bureau.example/v1", "PUHUI_SOURCE_RETRIES": "1",
           "PUHUI_SOURCE_BUREAU_TIMEOUT_MS": "1500"}
    connectors = world_connectors(world, env=env)  # type: ignore[arg-type]
    bureau = connectors[DataScope.BUREAU]
    assert isinstance(bureau, HttpConnector) and bureau.base_url == "https://bureau.example/v1"
    assert bureau.url("91310000MA1FL3KX2A") == \
        "https://bureau.example/v1/bureau/91310000MA1FL3KX2A"
    assert all(isinstance(connectors[s], WorldProvider) for s in connectors
               if s is not DataScope.BUREAU)
    assert connectors.settings.policy(DataScope.BUREAU).timeout == 1.5
    assert connectors.settings.policy(DataScope.TAX).timeout == 0.8
    assert connectors.settings.default.retries == 1


def test_serve_refuses_bad_source_settings_before_starting(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from puhui.cli import app

    monkeypatch.setenv("PUHUI_SOURCE_TIMEOUT_MS", "fast")
    result = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'p.sqlite'}",
                                      "--models", str(tmp_path / "models"),
                                      "--policies", str(tmp_path / "policies")])
    assert result.exit_code == 2, result.output
    assert "PUHUI_SOURCE_TIMEOUT_MS must be a whole number of milliseconds from 1 to 60000, " \
        "not 'fast'" in " ".join(result.output.split())
    assert not (tmp_path / "models").exists()  # refused before any model was trained


class InProcess:
    """An in-process provider (a plain `fetch`): slow, or broken."""

    def __init__(self, scope: str, seconds: float = 0.0, broken: bool = False) -> None:
        self.scope, self.seconds, self.broken = DataScope(scope), seconds, broken
        self.name = f"{scope} in-process"

    def fetch(self, business_id: str, as_of: date) -> dict:
        import time

        time.sleep(self.seconds)
        if self.broken:
            raise KeyError("merchant index")
        return {"business_id": business_id, "as_of": as_of.isoformat(), "records": []}


def test_in_process_sources_answer_while_the_network_ones_are_asked() -> None:
    with FakeSources() as server:
        server.script("bureau", ok(delay=0.3))
        connectors = ConnectorSet([HttpConnector("bureau", server.url), InProcess("tax", 0.3),
                                   InProcess("sales", broken=True)], SourceSettings(FAST))
        got, seconds = timed(lambda: ask(connectors))
    assert isinstance(got["bureau"], Received) and isinstance(got["tax"], dict)
    assert str(got["sales"]) == "sales in-process: KeyError: 'merchant index'"
    assert list(got) == ["bureau", "tax", "sales"]  # in the order of the set
    assert 0.3 <= seconds < 0.5, f"took {seconds:.3f} s"  # not 0.6
