"""Asking the data providers over the network: the HTTP connector, and the process's connector
loop on which every source an application needs is asked at once.

Why in the services: the core (`puhui.risk.data.connectors`, `resilience`) says what a
connector answers and how a source is asked (timeouts, retries, breakers, the deadline); talking
to a network and running an event loop on a thread of its own is the platform's wiring.  See
docs/risk-data.md, "Connectors: timeouts, retries, circuit breakers".
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any, TypeVar
from urllib.parse import quote

import orjson

from puhui.parties.consent import DataScope
from puhui.risk.data.connectors import (
    ConnectorSet, Received, fetch_here, is_remote, source_name,
)
from puhui.risk.data.payload import source_scope
from puhui.risk.errors import InvalidParameter, SourceFailed, SourceUnavailable

T = TypeVar("T")


def transport_failure(name: str, exc: Exception) -> SourceFailed:
    """A source that timed out or could not be reached: worth asking again."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return SourceFailed(name, f"timed out ({type(exc).__name__})", transient=True)
    return SourceFailed(name, f"could not be reached ({type(exc).__name__}: {exc})",
                        transient=True)


def check_status(name: str, status: int, absent: str) -> None:
    """What a source's HTTP status says: 404 holds nothing (`SourceUnavailable(absent)`), 5xx
    and 429 are worth asking again, any other non-2xx refused the request."""
    if status == 404:
        raise SourceUnavailable(absent)
    if status >= 500 or status == 429:
        raise SourceFailed(name, f"answered HTTP {status}", transient=True)
    if not 200 <= status < 300:
        raise SourceFailed(name, f"refused the request: HTTP {status}", transient=False)


class HttpConnector:
    """A provider's HTTP API: `GET {base_url}/{scope}/{business_id}?as_of=YYYY-MM-DD`, whose
    JSON body is the payload.

    A 404 means the provider holds nothing on the business (`SourceUnavailable`); no
    connection, a 5xx or a 429 is a transient `SourceFailed` (tried again under the source's
    policy); any other non-2xx answer, or a body that is not JSON, a permanent one.  The body is
    returned as received with its parse (`Received`), unchecked: `parse_payload` validates it,
    and it is stored byte for byte.  On the process's connector
    loop every HTTP connector shares one httpx client (`RUNNER.http()`, built by `prepare`
    outside the loop and the deadline), whose keep-alive connections serve every application
    of the process; `client_factory` gives a source a client of its own (client certificates,
    a proxy), built at its first use on each loop."""

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

    def prepare(self) -> None:
        """Build what asking needs before the clock runs (the shared client: loading the CA
        certificates takes long enough to blow a first request's timeout)."""
        if self._factory is None:
            RUNNER.http()

    def _http(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._factory is None and RUNNER.owns(loop):
            return RUNNER.http()
        if self._client is None or self._client[0] is not loop:
            self._client = (loop, self._factory() if self._factory is not None
                            else _new_client())
        return self._client[1]

    async def fetch(self, business_id: str, as_of: date) -> Received:
        import httpx

        try:
            response = await self._http().get(self.url(business_id), headers=self.headers,
                                               params={"as_of": as_of.isoformat()})
        except httpx.TransportError as exc:
            raise transport_failure(self.name, exc) from None
        check_status(self.name, response.status_code,
                     f"{self.name} holds nothing on {business_id}")
        try:  # a JSONDecodeError is a ValueError
            return Received(response.content, orjson.loads(response.content))
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


# -- the process's connector loop ------------------------------------------------------------
class LoopRunner:
    """One event loop on a daemon thread, per process, on which every connector call runs.

    Why not `asyncio.run` per application: the API's routes are synchronous and run in a thread
    pool, so each call would build and tear down an event loop, and an HTTP client's connection
    pool belongs to the loop it was made on: keep-alive connections to a provider could never
    be reused across applications.  `asyncio.run` also refuses to run inside a thread that
    already runs a loop.  One long-lived loop keeps the pools warm, and a caller waits for its
    result with a timeout of its own, so even a wedged loop cannot hang a request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None
        self._http: tuple[int, Any] | None = None

    def owns(self, loop: asyncio.AbstractEventLoop) -> bool:
        return loop is self._loop and self._pid == os.getpid()

    def http(self) -> Any:
        """The httpx client every HTTP connector shares on this loop (built on first use)."""
        with self._lock:
            if self._http is None or self._http[0] != os.getpid():
                self._http = (os.getpid(), _new_client())
            return self._http[1]

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                # in-process connectors run on threads of this loop's own
                loop.set_default_executor(ThreadPoolExecutor(
                    max_workers=16, thread_name_prefix="puhui-source"))
                thread = threading.Thread(target=loop.run_forever, name="puhui-connectors",
                                          daemon=True)
                thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Start `coro` on the loop; wait for it with `.result(timeout)` (and `.cancel()` it
        if that times out)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop and wait for it at most `timeout` seconds (`TimeoutError`,
        and the coroutine cancelled, beyond)."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise


RUNNER = LoopRunner()


def _new_client() -> Any:
    import importlib

    import httpx

    # what httpx imports at its first request, imported here rather than on the loop, where it
    # would hold up every source asked at the same time
    importlib.import_module("anyio._backends._asyncio")
    "localhost".encode("idna")

    # the source's policy times each attempt; httpx's own timeout is only a backstop
    return httpx.AsyncClient(timeout=httpx.Timeout(60.0), follow_redirects=False,
                             limits=httpx.Limits(max_connections=200,
                                                 max_keepalive_connections=50))


def fetch_all(connectors: ConnectorSet, business_id: str, as_of: date,
              scopes: Iterable[DataScope | str]) -> dict[DataScope, Any]:
    """Every scope's answer, for synchronous code (a service; the API's routes run in a thread
    pool): per scope the payload, or the `SourceUnavailable` / `SourceFailed` met.

    The network sources (coroutine connectors) are asked at once on the process's connector
    loop (`connectors.gather`: timeouts, retries, breakers, the deadline), and while they are
    asked the in-process ones (the synthetic world) answer in the caller's thread
    (`fetch_here`): their work is Python computation, which a hop to other threads would only
    delay (they would queue for the same interpreter lock) and a timeout could not stop.  Returns
    within the deadline (plus a second's margin) whatever the network sources do."""
    wanted = list(dict.fromkeys(source_scope(s) for s in scopes))
    if not wanted:
        return {}
    remote = [scope for scope in wanted if is_remote(connectors[scope])]
    for scope in remote:
        prepare = getattr(connectors[scope], "prepare", None)
        if callable(prepare):
            prepare()
    deadline = connectors.settings.deadline
    started = time.monotonic()
    asked = RUNNER.submit(connectors.gather(business_id, as_of, remote)) if remote else None
    out = {scope: fetch_here(connectors[scope], business_id, as_of)
           for scope in wanted if scope not in remote}
    if asked is not None:
        try:
            out.update(asked.result(max(0.0, started + deadline + 1 - time.monotonic())))
        except TimeoutError:
            asked.cancel()
            out.update((scope, SourceFailed(source_name(connectors[scope]), "the connector "
                                            "loop did not answer in time", transient=True))
                       for scope in remote)
    return {scope: out[scope] for scope in wanted}
