"""Connectors: where each source's payload comes from, and how the platform asks them all.

Why a protocol: a real lender plugs in the tax bureau's, its bank partners', the credit
bureau's and its POS partners' APIs; tests, demos and training use the synthetic world.  Both
answer `fetch(business_id, as_of)` with the payload (`{"business_id", "as_of", "records"}`)
holding nothing dated after `as_of`, either as a `Received` (the bytes the provider sent and
their parse: a network source, the synthetic world's providers) or as a JSON-ready value (a
test double), and raise
`SourceUnavailable` when the provider holds nothing for that business.  A network provider's
`fetch` is a coroutine (`puhui.services.sources.HttpConnector`: the network is the services'
business, the core stays pure); an in-process one's (the synthetic world, a test double) a plain
function.  `fetch_async` reaches both through the same asynchronous interface, and
`ConnectorSet.gather` asks every source an application needs at once, each under its
`SourcePolicy` (timeout, retries with backoff, circuit breaker: `resilience.py`) and all within
one deadline (`services.sources.fetch_all` runs it from synchronous code).  Validation is not
the connector's job: the payload is stored as received and validated by `parse_payload`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, runtime_checkable

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SOURCES, source_scope
from puhui.risk.data.resilience import CircuitBreaker, SourceSettings, guarded
from puhui.risk.data.world import SyntheticWorld
from puhui.risk.errors import InvalidParameter, RiskDataError, SourceFailed, SourceUnavailable

log = logging.getLogger("puhui.connectors")


@dataclass(frozen=True, slots=True)
class Received:
    """A payload as its provider sent it: the bytes (kept byte for byte, and hashed) and their
    parse, `orjson.loads(body)` (what is validated), so that the platform neither parses what a
    source sent nor writes out what it parsed a second time."""

    body: bytes
    payload: Any


def payload_of(answer: Any) -> Any:
    """A connector's answer as a JSON value (the parse of a `Received`)."""
    return answer.payload if isinstance(answer, Received) else answer


@runtime_checkable
class Connector(Protocol):
    scope: DataScope

    def fetch(self, business_id: str, as_of: date) -> Any:
        """The provider's payload for the business as known on `as_of`, a `Received` or a
        JSON-ready value (a plain function, or a coroutine function for a provider reached
        over the network)."""
        ...


# -- one asynchronous interface for every connector -------------------------------------------
async def fetch_async(connector: Connector, business_id: str, as_of: date) -> Any:
    """`connector.fetch(business_id, as_of)` awaited: a coroutine directly, a plain function
    on the loop's default executor (a thread), so that a slow one neither blocks the loop nor
    escapes its timeout."""
    fetch = connector.fetch
    if inspect.iscoroutinefunction(fetch):
        return await fetch(business_id, as_of)
    return await asyncio.get_running_loop().run_in_executor(None, fetch, business_id, as_of)


def is_remote(connector: Connector) -> bool:
    """Whether the connector asks a provider over the network (its `fetch` is a coroutine)."""
    return inspect.iscoroutinefunction(connector.fetch)


def fetch_here(connector: Connector, business_id: str, as_of: date) -> Any:
    """An in-process connector's answer, asked in the caller's thread: the payload, or the
    `SourceUnavailable` / `SourceFailed` met (never raised: a bug in a provider's code refers
    the application, as a provider answering garbage does)."""
    try:
        return connector.fetch(business_id, as_of)
    except RiskDataError as exc:
        if isinstance(exc, (SourceUnavailable, SourceFailed)):
            return exc
        return SourceFailed(source_name(connector), str(exc), transient=False)
    except Exception as exc:
        log.error("asking %s failed", source_name(connector), exc_info=exc)
        return SourceFailed(source_name(connector), f"{type(exc).__name__}: {exc}",
                            transient=False)


def source_name(connector: Any) -> str:
    """How a reason names a connector's source: its `name`, else its repr."""
    return str(getattr(connector, "name", None) or repr(connector))


class SyntheticConnector:
    """A provider backed by a `SyntheticWorld` (what the tax bureau or a bank would return).

    `business_ids` maps the ids the lender asks with (a business's unified social credit code)
    to the world's businesses, as a real provider maps a USCC to its own merchant id; the
    payload answers under the id that was asked for.
    """

    def __init__(self, world: SyntheticWorld, scope: DataScope | str,
                 business_ids: Mapping[str, str] | None = None) -> None:
        self.world = world
        self.scope = source_scope(scope)
        self.business_ids = dict(business_ids or {})

    def fetch(self, business_id: str, as_of: date) -> dict:
        payload = self.world.payload(self.scope, self.business_ids.get(business_id, business_id),
                                     as_of)
        return {**payload, "business_id": business_id}

    def __repr__(self) -> str:
        return f"SyntheticConnector({self.scope.value})"


class ConnectorSet(Mapping[DataScope, Connector]):
    """The connector of each data scope a lender can query (at most one per scope), how each is
    asked (`settings`: timeouts, retries, breakers, the collection's deadline) and each source's
    circuit breaker, shared by every application the process decides.  `clock` (monotonic
    seconds) drives the breakers and the deadline; tests inject one."""

    def __init__(self, connectors: Iterable[Connector], settings: SourceSettings | None = None,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_scope: dict[DataScope, Connector] = {}
        for connector in connectors:
            if not isinstance(connector, Connector):
                raise InvalidParameter(f"{connector!r} is not a Connector (scope + fetch)")
            scope = source_scope(connector.scope)
            if scope in self._by_scope:
                raise InvalidParameter(f"two connectors for {scope.value}")
            self._by_scope[scope] = connector
        self.settings = settings or SourceSettings()
        self.clock = clock
        self.breakers = {
            scope: CircuitBreaker(self.settings.policy(scope).breaker_failures,
                                  self.settings.policy(scope).breaker_cooldown, clock)
            for scope in self._by_scope}

    @classmethod
    def synthetic(cls, world: SyntheticWorld, scopes: Iterable[DataScope] = SOURCES,
                  business_ids: Mapping[str, str] | None = None,
                  settings: SourceSettings | None = None) -> ConnectorSet:
        return cls((SyntheticConnector(world, s, business_ids) for s in scopes), settings)

    def __getitem__(self, scope: DataScope | str) -> Connector:
        resolved = source_scope(scope)
        if resolved not in self._by_scope:
            raise InvalidParameter(f"no connector for {resolved.value}; configured: "
                                   f"{[s.value for s in self._by_scope]}")
        return self._by_scope[resolved]

    def __iter__(self) -> Iterator[DataScope]:
        return iter(self._by_scope)

    def __len__(self) -> int:
        return len(self._by_scope)

    async def gather(self, business_id: str, as_of: date,
                     scopes: Iterable[DataScope | str]) -> dict[DataScope, Any]:
        """Every scope's payload, asked concurrently, each under its policy and all within the
        deadline: per scope the payload, or the `SourceUnavailable` / `SourceFailed` met."""
        wanted = list(dict.fromkeys(source_scope(s) for s in scopes))
        connectors = {scope: self[scope] for scope in wanted}
        deadline = self.settings.deadline
        until = self.clock() + deadline

        def ask(connector: Connector) -> Callable[[], Any]:
            return lambda: fetch_async(connector, business_id, as_of)

        tasks = {scope: asyncio.ensure_future(guarded(
            source_name(c), ask(c), self.settings.policy(scope), self.breakers[scope],
            until=until, clock=self.clock)) for scope, c in connectors.items()}
        if tasks:
            # a little grace, so that an attempt cut at the deadline reports its own timeout
            await asyncio.wait(tasks.values(), timeout=deadline + 0.05)
        out: dict[DataScope, Any] = {}
        for scope, task in tasks.items():
            if not task.done() or task.cancelled():
                task.cancel()
                out[scope] = SourceFailed(source_name(connectors[scope]),
                                          f"no answer within the collection's deadline of "
                                          f"{round(deadline * 1000)} ms", transient=True)
            elif isinstance(task.exception(), RiskDataError):
                out[scope] = task.exception()
            elif task.exception() is not None:  # not expected: `guarded` wraps the rest
                exc = task.exception()
                log.error("asking %s failed", source_name(connectors[scope]), exc_info=exc)
                out[scope] = SourceFailed(source_name(connectors[scope]),
                                          f"{type(exc).__name__}: {exc}", transient=False)
            else:
                out[scope] = task.result()
        return out
