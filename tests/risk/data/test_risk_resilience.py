"""How a source is asked: the circuit breaker's states, retries with exponential backoff and
jitter, what is retried and what is not, the settings from the environment, and in-process
connectors under the same rules.  Clocks and sleeps are the test's own: nothing here waits."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import date

import pytest

from puhui.parties.consent import DataScope
from puhui.risk.data.connectors import ConnectorSet, fetch_async
from puhui.risk.data.resilience import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitBreaker,
    SourcePolicy,
    SourceSettings,
    SourceSettingsError,
    guarded,
)
from puhui.risk.errors import SourceFailed, SourceUnavailable

AS_OF = date(2026, 3, 1)


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Script:
    """An attempt that raises or returns, in turn, what it is given (the last one from then on),
    counting its calls."""

    def __init__(self, *outcomes) -> None:
        self.outcomes, self.calls = outcomes, 0

    async def __call__(self):
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def transient(problem: str = "answered HTTP 503") -> SourceFailed:
    return SourceFailed("bureau source", problem, transient=True)


def run(attempt, policy: SourcePolicy, breaker: CircuitBreaker | None = None, **kw):
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    breaker = breaker or CircuitBreaker(policy.breaker_failures, policy.breaker_cooldown)
    try:
        result = asyncio.run(guarded("bureau source", attempt, policy, breaker, sleep=sleep,
                                     rng=random.Random(3), **kw))
    except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
        result = exc
    return result, slept


# -- the breaker --------------------------------------------------------------------------
def test_the_breaker_opens_after_n_consecutive_failures() -> None:
    clock = Clock()
    breaker = CircuitBreaker(3, 30, clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == CLOSED
    breaker.success()  # a success in between starts the count again
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == OPEN and not breaker.allow()
    assert breaker.retry_in() == 30


def test_half_open_lets_one_trial_through_and_its_outcome_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 10, clock)
    breaker.failure()
    clock.now += 9.9
    assert breaker.state == OPEN and not breaker.allow()
    clock.now += 0.1
    assert breaker.state == HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()  # the trial failed: open for another cool-down
    assert breaker.state == OPEN and breaker.retry_in() == 10
    clock.now += 10
    assert breaker.allow()
    breaker.success()
    assert breaker.state == CLOSED and breaker.allow() and breaker.allow()


def test_a_cancelled_trial_frees_the_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 10, clock)
    breaker.failure()
    clock.now += 10
    assert breaker.allow() and not breaker.allow()
    breaker.release()
    assert breaker.allow()


# -- retries and backoff -----------------------------------------------------------------
def test_transient_failures_are_retried_with_exponential_backoff_and_jitter() -> None:
    policy = SourcePolicy(timeout=1, retries=4, backoff=0.1, backoff_max=0.5)
    attempt = Script(transient())
    result, slept = run(attempt, policy)
    assert isinstance(result, SourceFailed) and result.attempts == 5 == attempt.calls
    assert str(result) == "bureau source: answered HTTP 503 (5 attempts)"
    nominal = [0.1, 0.2, 0.4, 0.5]  # doubled each time, capped at backoff_max
    assert len(slept) == 4
    assert all(n / 2 <= s <= n for s, n in zip(slept, nominal)), slept
    assert len(set(slept)) == 4  # jittered


def test_the_delays_are_spread_by_jitter() -> None:
    policy = SourcePolicy(backoff=0.2, backoff_max=1.0)
    rng = random.Random(1)
    delays = [policy.delay(2, rng) for _ in range(200)]
    assert 0.2 <= min(delays) < 0.22 and 0.38 < max(delays) <= 0.4


def test_a_flapping_source_succeeds_on_a_retry() -> None:
    policy = SourcePolicy(retries=2)
    attempt = Script(transient(), transient(), {"records": []})
    result, slept = run(attempt, policy)
    assert result == {"records": []} and attempt.calls == 3 and len(slept) == 2


@pytest.mark.parametrize("outcome", [
    SourceFailed("bureau source", "refused the request: HTTP 400", transient=False),
    ValueError("a bug in the connector")])
def test_permanent_failures_are_not_retried(outcome) -> None:
    attempt = Script(outcome)
    result, slept = run(attempt, SourcePolicy(retries=3))
    assert isinstance(result, SourceFailed) and not result.transient
    assert attempt.calls == 1 and slept == []
    assert str(result).startswith("bureau source: ")


def test_no_data_is_not_a_failure() -> None:
    breaker = CircuitBreaker(1, 10)
    attempt = Script(SourceUnavailable("nothing on this business"))
    result, _ = run(attempt, SourcePolicy(retries=3), breaker)
    assert isinstance(result, SourceUnavailable) and attempt.calls == 1
    assert breaker.state == CLOSED


def test_a_slow_attempt_times_out_and_is_retried() -> None:
    async def slow():
        await asyncio.sleep(5)

    started = time.perf_counter()
    result, _ = run(slow, SourcePolicy(timeout=0.02, retries=1))
    assert isinstance(result, SourceFailed) and result.transient and result.attempts == 2
    assert str(result) == "bureau source: no answer within 20 ms (2 attempts)"
    assert time.perf_counter() - started < 1


def test_an_open_breaker_stops_the_retries() -> None:
    policy = SourcePolicy(retries=5, breaker_failures=2)
    attempt = Script(transient())
    result, slept = run(attempt, policy)
    assert attempt.calls == 2 and len(slept) == 2
    assert str(result).startswith("bureau source: answered HTTP 503; circuit open after "
                                  "repeated failures")


def test_no_retry_is_started_past_the_deadline() -> None:
    clock = Clock()
    policy = SourcePolicy(retries=5, backoff=0.4, backoff_max=0.4)
    attempt = Script(transient())
    result, slept = run(attempt, policy, until=clock.now + 0.15, clock=clock)  # delay >= 0.2
    assert attempt.calls == 1 and slept == []
    assert "no time left to retry before the deadline" in str(result)


# -- in-process connectors under the same rules ---------------------------------------------
class Sleepy:
    """An in-process connector (a plain `fetch`) that takes `seconds`."""

    def __init__(self, scope: str, seconds: float) -> None:
        self.scope, self.seconds = DataScope(scope), seconds
        self.name = f"{scope} in-process"

    def fetch(self, business_id: str, as_of: date) -> dict:
        time.sleep(self.seconds)
        return {"business_id": business_id, "as_of": as_of.isoformat(), "records": []}


def test_in_process_connectors_are_reached_through_the_same_async_interface() -> None:
    got = asyncio.run(fetch_async(Sleepy("tax", 0), "B1", AS_OF))
    assert got == {"business_id": "B1", "as_of": "2026-03-01", "records": []}


def test_in_process_connectors_run_concurrently_and_time_out() -> None:
    settings = SourceSettings(SourcePolicy(timeout=0.5, retries=0), deadline=2)
    connectors = ConnectorSet([Sleepy("tax", 0.15), Sleepy("sales", 0.15),
                               Sleepy("bureau", 1.2)], settings)

    async def timed_gather():
        started = time.perf_counter()
        got = await connectors.gather("B1", AS_OF, ["tax", "sales", "bureau"])
        return got, time.perf_counter() - started

    got, seconds = asyncio.run(timed_gather())
    assert isinstance(got[DataScope.TAX], dict) and isinstance(got[DataScope.SALES], dict)
    assert str(got[DataScope.BUREAU]) == "bureau in-process: no answer within 500 ms"
    assert 0.5 <= seconds < 0.9  # the timeout, not the 1.2 s the source takes


# -- settings ---------------------------------------------------------------------------
def test_the_default_settings() -> None:
    settings = SourceSettings.from_env({})
    assert settings.default == SourcePolicy(timeout=0.8, retries=2, backoff=0.1, backoff_max=2.0,
                                            breaker_failures=5, breaker_cooldown=30.0)
    assert settings.deadline == 2.5 and settings.per_scope == {}


def test_settings_from_the_environment_with_a_source_of_its_own() -> None:
    settings = SourceSettings.from_env({
        "PUHUI_SOURCE_TIMEOUT_MS": "300", "PUHUI_SOURCE_RETRIES": "0",
        "PUHUI_SOURCE_BACKOFF_MS": "50", "PUHUI_SOURCE_BREAKER_FAILURES": "3",
        "PUHUI_SOURCE_BREAKER_COOLDOWN_S": "60", "PUHUI_SOURCE_DEADLINE_MS": "5000",
        "PUHUI_SOURCE_BUREAU_TIMEOUT_MS": "2000", "PUHUI_SOURCE_TAX_RETRIES": "4"})
    assert settings.policy(DataScope.SALES) == SourcePolicy(0.3, 0, 0.05, 2.0, 3, 60.0)
    assert settings.policy(DataScope.BUREAU).timeout == 2.0
    assert settings.policy(DataScope.BUREAU).retries == 0
    tax = settings.policy(DataScope.TAX)
    assert tax.retries == 4 and tax.timeout == 0.3
    assert settings.deadline == 5.0


@pytest.mark.parametrize(("env", "message"), [
    ({"PUHUI_SOURCE_TIMEOUT_MS": "0"}, ("PUHUI_SOURCE_TIMEOUT_MS must be a whole number of "
                                        "milliseconds from 1 to 60000, not '0'")),
    ({"PUHUI_SOURCE_TIMEOUT_MS": "0.5"}, "PUHUI_SOURCE_TIMEOUT_MS must be a whole number"),
    ({"PUHUI_SOURCE_RETRIES": "-1"}, ("PUHUI_SOURCE_RETRIES must be a whole number of "
                                      "retries from 0 to 10, not '-1'")),
    ({"PUHUI_SOURCE_RETRIES": "11"}, "PUHUI_SOURCE_RETRIES must be"),
    ({"PUHUI_SOURCE_BREAKER_FAILURES": "0"}, "PUHUI_SOURCE_BREAKER_FAILURES must be"),
    ({"PUHUI_SOURCE_BREAKER_COOLDOWN_S": "soon"}, "PUHUI_SOURCE_BREAKER_COOLDOWN_S must be"),
    ({"PUHUI_SOURCE_BUREAU_RETRIES": "x"}, "PUHUI_SOURCE_BUREAU_RETRIES must be"),
    ({"PUHUI_SOURCE_DEADLINE_MS": "500"}, (r"PUHUI_SOURCE_DEADLINE_MS \(500 ms\) must be at "
                                           r"least the longest source timeout \(800 ms\)")),
])
def test_bad_settings_are_refused_naming_them(env, message) -> None:
    with pytest.raises(SourceSettingsError, match=message):
        SourceSettings.from_env(env)


def test_policies_are_checked() -> None:
    with pytest.raises(SourceSettingsError, match="timeout must be positive"):
        SourcePolicy(timeout=0)
    with pytest.raises(SourceSettingsError, match="retries"):
        SourcePolicy(retries=-1)
    with pytest.raises(SourceSettingsError, match="deadline must be positive"):
        SourceSettings(deadline=0)
