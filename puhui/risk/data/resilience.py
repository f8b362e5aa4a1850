"""How the platform asks a data source: a timeout per attempt, retries with backoff, a circuit
breaker per source, and a deadline over the whole collection.

Why here and not in each connector: a connector only knows how to ask its provider
(`connectors.py`); how long to wait, what to try again and when to stop asking a provider that
is down are the lender's rules, the same for every provider and set by the operator
(`SourceSettings.from_env`, see docs/risk-data.md, "Connectors: timeouts, retries, circuit
breakers").

- A **transient** failure (no connection, a timeout, a 5xx or 429 answer: `SourceFailed` with
  `transient=True`) is tried again, up to `retries` more times, after an exponential backoff with
  jitter (`backoff`, 2x`backoff`, 4x`backoff`... capped at `backoff_max`, each drawn between half
  and all of it, so that workers do not retry in step).
- A **permanent** failure (a 4xx answer, a body that is not JSON, a connector that raised) is not
  tried again: asking again would get the same answer.  A provider that holds nothing on the
  business (`SourceUnavailable`, a 404) is not a failure at all.
- Each source has one `CircuitBreaker`, shared by every request of the process: after
  `breaker_failures` consecutive transient failures it opens and calls fail at once, without
  reaching the provider, for `breaker_cooldown`; then it lets one trial call through (half-open):
  success closes it, failure opens it for another cool-down.
- Everything is bounded: each attempt by `timeout` and the whole collection by `deadline`, so a
  provider that never answers costs an application at most the deadline, never a hung request.

Clocks, sleeps and the jitter's random source are injectable, so the tests drive the breaker and
the backoff without waiting.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from puhui.parties.consent import DataScope
from puhui.risk.errors import InvalidParameter, SourceFailed, SourceUnavailable

T = TypeVar("T")

#: Environment: each attempt's timeout, milliseconds (1-60000, default 800).
TIMEOUT_ENV = "PUHUI_SOURCE_TIMEOUT_MS"
#: Environment: how many times a transient failure is tried again (0-10, default 2).
RETRIES_ENV = "PUHUI_SOURCE_RETRIES"
#: Environment: the first retry's delay, milliseconds, doubled for each next one (0-10000, 100).
BACKOFF_ENV = "PUHUI_SOURCE_BACKOFF_MS"
#: Environment: consecutive failures that open a source's circuit (1-1000, default 5).
BREAKER_FAILURES_ENV = "PUHUI_SOURCE_BREAKER_FAILURES"
#: Environment: seconds an open circuit waits before a trial call (1-3600, default 30).
BREAKER_COOLDOWN_ENV = "PUHUI_SOURCE_BREAKER_COOLDOWN_S"
#: Environment: the whole collection's deadline, milliseconds (1-120000, default 2500).
DEADLINE_ENV = "PUHUI_SOURCE_DEADLINE_MS"


class SourceSettingsError(InvalidParameter):
    """A connector setting that cannot be used; the message names it and says what it takes."""


@dataclass(frozen=True)
class SourcePolicy:
    """How one source is asked.  Times in seconds."""

    timeout: float = 0.8
    retries: int = 2
    backoff: float = 0.1
    backoff_max: float = 2.0
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise SourceSettingsError(f"a source's timeout must be positive, not {self.timeout}")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise SourceSettingsError(f"retries must be a whole number >= 0, not {self.retries!r}")
        if self.backoff < 0 or self.backoff_max < self.backoff:
            raise SourceSettingsError("backoff must be >= 0 and backoff_max >= backoff")
        if not isinstance(self.breaker_failures, int) or self.breaker_failures < 1:
            raise SourceSettingsError(f"breaker_failures must be a whole number >= 1, not "
                                      f"{self.breaker_failures!r}")
        if not self.breaker_cooldown > 0:
            raise SourceSettingsError("breaker_cooldown must be positive")

    def delay(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number `retry` (1, 2, ...): exponential, capped, with jitter
        (between half and all of the nominal delay)."""
        nominal = min(self.backoff_max, self.backoff * 2 ** (retry - 1))
        return nominal * (0.5 + 0.5 * rng.random())


@dataclass(frozen=True)
class SourceSettings:
    """The policy of every source (`default`, or a scope's own) and the collection's deadline."""

    default: SourcePolicy = field(default_factory=SourcePolicy)
    per_scope: Mapping[DataScope, SourcePolicy] = field(default_factory=dict)
    deadline: float = 2.5

    def __post_init__(self) -> None:
        if not self.deadline > 0:
            raise SourceSettingsError(f"the deadline must be positive, not {self.deadline}")

    def policy(self, scope: DataScope) -> SourcePolicy:
        return self.per_scope.get(scope, self.default)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SourceSettings:
        """The settings the environment configures (`PUHUI_SOURCE_*`, defaults otherwise);
        `SourceSettingsError` naming the first bad one.  `PUHUI_SOURCE_<SCOPE>_TIMEOUT_MS` and
        `PUHUI_SOURCE_<SCOPE>_RETRIES` (e.g. `PUHUI_SOURCE_BUREAU_TIMEOUT_MS`) set one source's
        own."""
        from puhui.risk.data.payload import SOURCES

        env = os.environ if env is None else env
        base = SourcePolicy()
        backoff = _whole(env, BACKOFF_ENV, 0, 10_000, "milliseconds", 100) / 1000
        default = SourcePolicy(
            timeout=_whole(env, TIMEOUT_ENV, 1, 60_000, "milliseconds", 800) / 1000,
            retries=_whole(env, RETRIES_ENV, 0, 10, "retries", base.retries),
            backoff=backoff, backoff_max=max(base.backoff_max, backoff),
            breaker_failures=_whole(env, BREAKER_FAILURES_ENV, 1, 1000, "failures",
                                    base.breaker_failures),
            breaker_cooldown=float(_whole(env, BREAKER_COOLDOWN_ENV, 1, 3600, "seconds", 30)))
        per_scope = {}
        for scope in SOURCES:
            name = scope.value.upper()
            timeout_env, retries_env = (f"PUHUI_SOURCE_{name}_TIMEOUT_MS",
                                        f"PUHUI_SOURCE_{name}_RETRIES")
            if env.get(timeout_env, "").strip() or env.get(retries_env, "").strip():
                per_scope[scope] = replace(
                    default,
                    timeout=_whole(env, timeout_env, 1, 60_000, "milliseconds",
                                   round(default.timeout * 1000)) / 1000,
                    retries=_whole(env, retries_env, 0, 10, "retries", default.retries))
        deadline = _whole(env, DEADLINE_ENV, 1, 120_000, "milliseconds", 2500) / 1000
        longest = max([default, *per_scope.values()], key=lambda p: p.timeout)
        if deadline < longest.timeout:
            raise SourceSettingsError(
                f"{DEADLINE_ENV} ({round(deadline * 1000)} ms) must be at least the longest "
                f"source timeout ({round(longest.timeout * 1000)} ms)")
        return cls(default, per_scope, deadline)


def _whole(env: Mapping[str, str], name: str, low: int, high: int, unit: str,
           default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise SourceSettingsError(f"{name} must be a whole number of {unit} from {low} to "
                                  f"{high}, not {text!r}")
    return int(text)


# -- the circuit breaker ----------------------------------------------------------------------
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """One source's breaker: closed (calls go through), open (calls fail at once) after
    `failures` consecutive failures, half-open after `cooldown` seconds (one trial call goes
    through; its success closes the breaker, its failure opens it again).

    Thread-safe; `clock` (seconds, monotonic) is injectable for tests."""

    def __init__(self, failures: int = 5, cooldown: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1 or cooldown <= 0:
            raise SourceSettingsError("a breaker needs failures >= 1 and a positive cooldown")
        self.threshold, self.cooldown, self.clock = failures, cooldown, clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial call is in flight

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        return HALF_OPEN if self.clock() - self._opened_at >= self.cooldown else OPEN

    def allow(self) -> bool:
        """Whether a call may go through now (taking the half-open trial slot if it is one)."""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return True
            if state == HALF_OPEN and not self._trial:
                self._trial = True
                return True
            return False

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 if it would now)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.cooldown - (self.clock() - self._opened_at))

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or (self._opened_at is None and self._failures >= self.threshold):
                self._opened_at = self.clock()
            self._trial = False

    def release(self) -> None:
        """A trial call ended without telling whether the source is up (cancelled, or an answer
        that is neither success nor failure): let the next call try."""
        with self._lock:
            self._trial = False

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.state}, {self._failures} failures)"


# -- one source, asked under its policy --------------------------------------------------------
def _circuit_open(source: str, breaker: CircuitBreaker, last: SourceFailed | None,
                  tries: int) -> SourceFailed:
    detail = f"circuit open after repeated failures (next try in {breaker.retry_in():.0f} s)"
    return SourceFailed(source, detail if last is None else f"{last.problem}; {detail}",
                        transient=True, attempts=tries)


def _settle(source: str, last: SourceFailed, tries: int, policy: SourcePolicy,
            breaker: CircuitBreaker) -> None:
    """A failed attempt told to the breaker; `SourceFailed` when it is not to be tried again
    (a permanent failure, or the retries spent)."""
    if last.transient:
        breaker.failure()
    else:
        breaker.success()  # it answered, wrongly: asking again would not help
    if not last.transient or tries > policy.retries:
        raise SourceFailed(source, last.problem, transient=last.transient, attempts=tries)


async def guarded(source: str, attempt: Callable[[], Awaitable[T]], policy: SourcePolicy,
                  breaker: CircuitBreaker, *, until: float | None = None,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                  rng: random.Random | None = None) -> T:
    """`await attempt()` under `policy`: each attempt within `timeout` (and before `until`, a
    `clock()` time), transient failures retried with backoff, the breaker consulted before each
    attempt and told the outcome.  Raises `SourceUnavailable` as the connector did, or
    `SourceFailed` naming `source` with the last problem and the attempts made."""
    rng = rng or random.Random()
    tries = 0
    last: SourceFailed | None = None
    while True:
        timeout = policy.timeout if until is None else min(policy.timeout, until - clock())
        if timeout <= 0:
            detail = "no time left before the collection's deadline"
            raise SourceFailed(source, detail if last is None else f"{last.problem}; {detail}",
                               transient=True, attempts=tries)
        if not breaker.allow():
            raise _circuit_open(source, breaker, last, tries)
        tries += 1
        try:
            result = await asyncio.wait_for(attempt(), timeout)
        except SourceUnavailable:
            breaker.success()  # the provider answered: it is up
            raise
        except TimeoutError:
            last = SourceFailed(source, f"no answer within {round(timeout * 1000)} ms",
                                transient=True)
        except SourceFailed as exc:
            last = exc
        except asyncio.CancelledError:
            breaker.release()
            raise
        except Exception as exc:  # noqa: BLE001 - a connector's own bug: reported, not raised
            last = SourceFailed(source, f"{type(exc).__name__}: {exc}", transient=False)
        else:
            breaker.success()
            return result
        _settle(source, last, tries, policy, breaker)
        wait = policy.delay(tries, rng)
        if until is not None and clock() + wait >= until:
            raise SourceFailed(source, f"{last.problem}; no time left to retry before the "
                                       f"deadline", transient=True, attempts=tries)
        await sleep(wait)


def guarded_call(source: str, attempt: Callable[[], T], policy: SourcePolicy,
                 breaker: CircuitBreaker, *, sleep: Callable[[float], Any] = time.sleep,
                 rng: random.Random | None = None) -> T:
    """`attempt()` under `policy` and `breaker`, for a caller that asks one page at a time (a
    change feed read by a batch job): the rules of `guarded` -- transient failures retried
    with backoff, the breaker consulted before each attempt and told the outcome, anything
    else the attempt raises reported as a permanent `SourceFailed` -- without its per-attempt
    timeout and deadline, which the caller's client holds."""
    rng = rng or random.Random()
    tries = 0
    last: SourceFailed | None = None
    while True:
        if not breaker.allow():
            raise _circuit_open(source, breaker, last, tries)
        tries += 1
        try:
            result = attempt()
        except SourceUnavailable:
            breaker.success()  # the provider answered: it is up
            raise
        except SourceFailed as exc:
            last = exc
        except Exception as exc:  # noqa: BLE001 - a feed's own bug: reported, not raised
            last = SourceFailed(source, f"{type(exc).__name__}: {exc}", transient=False)
        else:
            breaker.success()
            return result
        _settle(source, last, tries, policy, breaker)
        sleep(policy.delay(tries, rng))

