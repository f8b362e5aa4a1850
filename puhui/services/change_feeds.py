"""A source's change feed over HTTP (`puhui.risk.data.feeds.ChangeFeed`).

Why synchronous: a feed is read page after page by one batch job (`monitoring_data.ingest_feeds`),
each page committed before the next is asked for, so there is nothing to overlap; a plain
`httpx.Client` with a timeout is all it needs.  Failures read as the connectors' do: no answer
in time, no connection, a 5xx or a 429 is a transient `SourceFailed`; a 404 means the provider
has no feed (`SourceUnavailable`); any other non-2xx answer, or a body that is not the feed's
JSON, a permanent `SourceFailed`.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Mapping

import orjson

from puhui.parties.consent import DataScope
from puhui.risk.data.connectors import Received
from puhui.risk.data.feeds import FeedChange, FeedPage
from puhui.risk.data.payload import source_scope
from puhui.risk.errors import InvalidParameter, SourceFailed
from puhui.services.sources import check_status, transport_failure

#: Seconds a page may take (connecting, waiting, reading) before the feed counts as failed.
DEFAULT_TIMEOUT = 30.0


def _canonical(payload: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8 (`services.data.canonical_bytes`'s form)."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # integers beyond 64 bits: the standard library's encoder
        return json.dumps(payload, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8")


class HttpChangeFeed:
    """`GET {url}/changes?since=<cursor>&limit=<n>&as_of=<YYYY-MM-DD>` answering
    ``{"cursor": str, "more": bool, "changes": [{"business_id": str, "payload": {...}}]}``.

    Each change's payload is kept in its canonical bytes (sorted keys, no spaces: what the
    payload store packs best), since one response carries many payloads and their own bytes
    are not delimited in it."""

    def __init__(self, scope: DataScope | str, url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 headers: dict[str, str] | None = None, client: Any = None,
                 name: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidParameter(f"a feed's URL starts with http:// or https://, not {url!r}")
        if not timeout > 0:
            raise InvalidParameter(f"a feed's timeout is a positive number of seconds, not "
                                   f"{timeout!r}")
        self.scope = source_scope(scope)
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.name = name or f"{self.scope.value} feed at {self.url}"
        self._client = client

    def _http(self) -> Any:
        if self._client is None:
            import httpx
            self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def changes(self, since: str | None, limit: int, as_of: date) -> FeedPage:
        import httpx

        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidParameter(f"limit must be a positive int, got {limit!r}")
        params = {"limit": str(limit), "as_of": as_of.isoformat()}
        if since is not None:
            params["since"] = since
        try:
            response = self._http().get(f"{self.url}/changes", params=params,
                                        headers=self.headers, timeout=self.timeout)
        except httpx.TransportError as exc:
            raise transport_failure(self.name, exc) from None
        check_status(self.name, response.status_code, f"{self.name} has no change feed")
        return self._page(response.content)

    def _page(self, body: bytes) -> FeedPage:
        try:
            page = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise SourceFailed(self.name, f"answered a body that is not JSON ({len(body)} bytes)",
                               transient=False) from None
        if not (isinstance(page, dict) and isinstance(page.get("cursor"), str)
                and isinstance(page.get("more"), bool) and isinstance(page.get("changes"), list)):
            raise SourceFailed(self.name, "answered JSON that is not a feed page "
                                          "({cursor: str, more: bool, changes: [...]})",
                               transient=False)
        changes = []
        for i, change in enumerate(page["changes"]):
            if not (isinstance(change, dict) and isinstance(change.get("business_id"), str)
                    and "payload" in change):
                raise SourceFailed(self.name, f"change {i} is not {{business_id: str, payload}}",
                                   transient=False)
            payload = change["payload"]
            changes.append(FeedChange(change["business_id"], Received(_canonical(payload),
                                                                      payload)))
        return FeedPage(changes, page["cursor"], page["more"])

    def __repr__(self) -> str:
        return f"HttpChangeFeed({self.scope.value}, {self.url})"


__all__ = ["HttpChangeFeed", "DEFAULT_TIMEOUT"]


#: Environment: a source's change feed, e.g. PUHUI_FEED_UTILITY_URL=https://grid.example/v1
#: (`HttpChangeFeed`).
FEED_URL_ENV = "PUHUI_FEED_{}_URL"


def platform_feeds(p: Any, world: Any = None, env: Mapping[str, str] | None = None
                   ) -> dict[DataScope, Any]:
    """The change feed of each data scope the line refresh takes in: the HTTP feed
    `PUHUI_FEED_<SCOPE>_URL` names; else, for a source the synthetic `world` serves (no
    `PUHUI_SOURCE_<SCOPE>_URL`), the world's feed over the businesses monitored on `p`; a
    source served over HTTP without a feed has none (the refresh asks it one business at a
    time)."""
    import os

    from puhui.risk.data.payload import SOURCES
    from puhui.services.monitoring_data import monitored_businesses
    from puhui.services.providers import URL_ENV, WorldFeed

    env = os.environ if env is None else env
    feeds: dict[DataScope, Any] = {}
    for scope in SOURCES:
        url = env.get(FEED_URL_ENV.format(scope.value.upper()), "").strip()
        if url:
            feeds[scope] = HttpChangeFeed(scope, url)
        elif world is not None and not env.get(URL_ENV.format(scope.value.upper()), "").strip():
            feeds[scope] = WorldFeed(world, scope, lambda: monitored_businesses(p))
    return feeds
