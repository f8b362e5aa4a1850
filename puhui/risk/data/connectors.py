"""Connectors: where each source's payload comes from, and how the platform asks them all.

Why a protocol: a real lender plugs in the tax bureau's, its bank partners', the credit
bureau's and its POS partners' APIs; tests, demos and training use the synthetic world.  Both
answer `fetch(business_id, as_of)` with the raw JSON-ready payload
(`{"business_id", "as_of", "records"}`) holding nothing dated after `as_of`, and raise
`SourceUnavailable` when the provider holds nothing for that business.  A network provider's
`fetch` is a coroutine (`HttpConnector`); an in-process one's (the synthetic world, a test
double) a plain function.  `fetch_async` reaches both through the same asynchronous interface,
and `ConnectorSet.fetch_all` asks every source an application needs at once, each under its
`SourcePolicy` (timeout, retries with backoff, circuit breaker: `resilience.py`) and all within
one deadline.  Validation is not the connector's job: the payload is stored as received and
validated by `parse_payload`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SOURCES, source_scope
from puhui.risk.data.resilience import RUNNER, CircuitBreaker, SourceSettings, guarded
from puhui.risk.data.world import SyntheticWorld
from puhui.risk.errors import InvalidParameter, RiskDataError, SourceFailed, SourceUnavailable

log = logging.getLogger("puhui.connectors")


@runtime_checkable
class Connector(Protocol):
    scope: DataScope

    def fetch(self, business_id: str, as_of: date) -> Any:
        """The provider's raw payload for the business as known on `as_of` (a plain function,
        or a coroutine function for a provider reached over the network)."""
        ...


# -- one asynchronous interface for every connector -------------------------------------------
_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _threads() -> ThreadPoolExecutor:
    """The threads in-process connectors run on (one pool per process), so that a slow one
    neither blocks the connector loop nor escapes its timeout."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=16,
                                                     thread_name_prefix="puhui-source"))
        return _pool[1]


async def fetch_async(connector: Connector, business_id: str, as_of: date) -> Any:
    """`connector.fetch(business_id, as_of)` awaited: a coroutine directly, a plain function
    on the connectors' thread pool."""
    fetch = connector.fetch
    if inspect.iscoroutinefunction(fetch):
        return await fetch(business_id, as_of)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_threads(), fetch, business_id, as_of)


def source_name(connector: Any) -> str:
    """How a reason names a connector's source: its `name`, else its repr."""
    return str(getattr(connector, "name", None) or repr(connector))


class HttpConnector:
    """A provider's HTTP API: `GET {base_url}/{scope}/{business_id}?as_of=YYYY-MM-DD`, whose
    JSON body is the payload.

    A 404 means the provider holds nothing on the business (`SourceUnavailable`); no
    connection, a 5xx or a 429 is a transient `SourceFailed` (tried again under the source's
    policy); any other non-2xx answer, or a body that is not JSON, a permanent one.  The body is
    returned as parsed, unchecked: `parse_payload` validates it.  The httpx client belongs to
    the event loop it was made on (the process's connector loop, `resilience.RUNNER`), so its
    keep-alive connections serve every application of the process."""

    def __init__(self, scope: DataScope | str, base_url: str, *,
                 headers: Mapping[str, str] | None = None, name: str | None = None,
                 client_factory: Callable[[], Any] | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidParameter(f"a source's base URL starts with http:// or https://, not "
                                   f"{base_url!r}")
        self.scope = source_scope(scope)
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.name = name or f"{self.scope.value} source at {self.base_url}"
        self._factory = client_factory
        self._client: tuple[asyncio.AbstractEventLoop, Any] | None = None

    def url(self, business_id: str) -> str:
        return f"{self.base_url}/{self.scope.value}/{quote(business_id, safe='')}"

    def _http(self) -> Any:
        import httpx

        loop = asyncio.get_running_loop()
        if self._client is None or self._client[0] is not loop:
            client = self._factory() if self._factory is not None else httpx.AsyncClient(
                headers=self.headers, timeout=httpx.Timeout(60.0), follow_redirects=False)
            self._client = (loop, client)
        return self._client[1]

    async def fetch(self, business_id: str, as_of: date) -> Any:
        import httpx

        try:
            response = await self._http().get(self.url(business_id),
                                               params={"as_of": as_of.isoformat()})
        except httpx.TimeoutException as exc:
            raise SourceFailed(self.name, f"timed out ({type(exc).__name__})",
                               transient=True) from None
        except httpx.TransportError as exc:
            raise SourceFailed(self.name, f"could not be reached ({type(exc).__name__}: "
                                          f"{exc})", transient=True) from None
        status = response.status_code
        if status == 404:
            raise SourceUnavailable(f"{self.name} holds nothing on {business_id}")
        if status >= 500 or status == 429:
            raise SourceFailed(self.name, f"answered HTTP {status}", transient=True)
        if not 200 <= status < 300:
            raise SourceFailed(self.name, f"refused the request: HTTP {status}",
                               transient=False)
        try:
            return json.loads(response.content)
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise SourceFailed(self.name, f"answered a body that is not JSON ({kind}, "
                                          f"{len(response.content)} bytes)",
                               transient=False) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client[1].aclose()
            self._client = None

    def __repr__(self) -> str:
        return f"HttpConnector({self.scope.value}, {self.base_url})"


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
                  settings: SourceSettings | None = None) -> "ConnectorSet":
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

    def fetch_all(self, business_id: str, as_of: date,
                  scopes: Iterable[DataScope | str]) -> dict[DataScope, Any]:
        """`gather` from synchronous code (a service, an API route in its thread pool), run on
        the process's connector loop; returns within the deadline (plus a second's margin)."""
        wanted = list(dict.fromkeys(source_scope(s) for s in scopes))
        if not wanted:
            return {}
        try:
            return RUNNER.run(self.gather(business_id, as_of, wanted), self.settings.deadline + 1)
        except TimeoutError:
            return {scope: SourceFailed(source_name(self[scope]), "the connector loop did not "
                                        "answer in time", transient=True) for scope in wanted}
