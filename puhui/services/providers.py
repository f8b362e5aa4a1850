"""The synthetic world as a demo platform's data providers.

Why a link by hash: a real provider finds a business by its unified social credit code (or, for
a 个体工商户 without one, its owner's resident ID), and the platform asks with exactly that
(`services.applicants.business_identity`); a demo or test platform registers businesses of its
own, which the synthetic world has never heard of.  Each identity is therefore matched, stably,
to one of the world's businesses (SHA-256 of the identity, modulo the population), and every
provider answers for that business under the identity asked with.  The same business always
gets the same history, however many times and through whichever partner it is registered and
whichever process asks, so decisions replay and the demo server needs no shared state.  (Keyed
by the applicant id instead, one business registered twice was two different businesses:
graded A once and declined the next time.)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from puhui.parties.consent import DataScope
import orjson

from puhui.risk.data.connectors import Connector, ConnectorSet, Received
from puhui.risk.data.feeds import ChangeFeed, FeedChange, FeedPage
from puhui.risk.data.payload import SOURCES, source_scope
from puhui.risk.data.resilience import SourceSettings
from puhui.risk.data.world import SyntheticWorld
from puhui.risk.errors import InvalidParameter, SourceUnavailable
from puhui.services.sources import HttpConnector


def world_business(world: SyntheticWorld, identity: str) -> str:
    """The world business standing in for the business known to providers as `identity`."""
    digest = hashlib.sha256(f"puhui-world:{identity}".encode("utf-8")).digest()
    return str(world.ids[int.from_bytes(digest[:8], "big") % world.n])


class WorldProvider:
    """One data source of the world, answering for a business identity by its linked business."""

    def __init__(self, world: SyntheticWorld, scope: DataScope | str) -> None:
        self.world, self.scope = world, source_scope(scope)

    def fetch(self, business_id: str, as_of: date) -> Received:
        """The payload as the provider sends it: its JSON bytes (sorted keys, no spaces, as a
        canonical feed writes them) and their parse."""
        payload = self.world.payload(self.scope, world_business(self.world, business_id), as_of)
        payload = {**payload, "business_id": business_id}
        return Received(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS), payload)

    def __repr__(self) -> str:
        return f"WorldProvider({self.scope.value})"


#: Environment: a source's HTTP API, e.g. PUHUI_SOURCE_BUREAU_URL=https://bureau.example/v1
#: (`HttpConnector`); a source without one is served by the synthetic world.
URL_ENV = "PUHUI_SOURCE_{}_URL"


def world_connectors(world: SyntheticWorld, settings: SourceSettings | None = None,
                     env: Mapping[str, str] | None = None) -> ConnectorSet:
    """Every source of `world` as a provider linked to business identities by hash, except the
    sources the environment points at an HTTP API (`PUHUI_SOURCE_<SCOPE>_URL`), asked under
    `settings` (default: `SourceSettings.from_env`, which refuses a bad setting)."""
    env = os.environ if env is None else env
    settings = SourceSettings.from_env(env) if settings is None else settings
    connectors: list[Connector] = []
    for scope in SOURCES:
        url = env.get(URL_ENV.format(scope.value.upper()), "").strip()
        connectors.append(HttpConnector(scope, url) if url else WorldProvider(world, scope))
    return ConnectorSet(connectors, settings)


# -- the world's change feeds ----------------------------------------------------------------------
def _latest(*days: str | None) -> str:
    return max(d for d in days if d)


#: The day a record of each scope became known as it stands (`puhui.risk.panel`'s point-in-time
#: rule): the latest of its event dates known (an order and its refund, a bill and its payment,
#: a shipment and its delivery), so a record that changed is delivered again whole.
_KNOWN_ON = {
    DataScope.SALES: lambda r: _latest(r["ordered_on"], r.get("refunded_on")),
    DataScope.UTILITY: lambda r: _latest(r["billed_on"], r.get("paid_on")),
    DataScope.TAX: lambda r: r["filed_on"],
    DataScope.LOGISTICS: lambda r: _latest(r["shipped_on"], r.get("delivered_on")),
    DataScope.BANK_STATEMENT: lambda r: r["booked_on"],
    DataScope.APP_BEHAVIOUR: lambda r: r["occurred_at"][:10],
    DataScope.BUREAU: lambda r: r["reported_on"],
}


class WorldFeed:
    """The synthetic world's change feed of one scope over a set of business identities (a
    mapping or set of them, or a callable giving them: the businesses monitored).

    The cursor is the ISO day up to which records were delivered.  Asked with no cursor it
    delivers each business's whole payload as of `as_of` (so a state starts complete); asked
    from a day, each business's records that became known after it (`_KNOWN_ON`), as of
    `as_of`.  A pass over the businesses is paged by `limit`, in identity order; a page cut
    mid-pass says so in its cursor (``<from>|<to>|<last identity delivered>``), and the pass's
    last page gives ``<to>`` alone.  Deterministic: the same cursor and day give the same page."""

    def __init__(self, world: SyntheticWorld, scope: DataScope | str,
                 identities: Any) -> None:
        self.world, self.scope = world, source_scope(scope)
        self.identities = identities
        self.name = f"world {self.scope.value} feed"

    def _identities(self) -> list[str]:
        found = self.identities() if callable(self.identities) else self.identities
        return sorted(found)

    def changes(self, since: str | None, limit: int, as_of: date) -> FeedPage:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidParameter(f"limit must be a positive int, got {limit!r}")
        start, after = (None, None)
        to = as_of.isoformat()
        if since is not None:
            parts = since.split("|")
            if len(parts) == 3:  # mid-pass: the pass goes on as it began
                start, to, after = parts[0] or None, parts[1], parts[2]
            else:
                start = since
                if start >= to:  # nothing can be newer than what was delivered
                    return FeedPage([], since, False)
        day = date.fromisoformat(to)
        ids = [b for b in self._identities() if after is None or b > after]
        changes: list[FeedChange] = []
        last = None
        for identity in ids:
            if len(changes) >= limit:
                break
            last = identity
            try:
                payload = self.world.payload(self.scope, world_business(self.world, identity),
                                             day)
            except SourceUnavailable:
                continue
            records = payload["records"]
            if start is not None:
                known = _KNOWN_ON[self.scope]
                records = [r for r in records if known(r) > start]
                if not records:
                    continue
            delta = {"business_id": identity, "as_of": to, "records": records}
            changes.append(FeedChange(identity, Received(
                orjson.dumps(delta, option=orjson.OPT_SORT_KEYS), delta)))
        more = last is not None and last != ids[-1]
        cursor = f"{start or ''}|{to}|{last}" if more else to
        return FeedPage(changes, cursor, more)

    def __repr__(self) -> str:
        return f"WorldFeed({self.scope.value})"


def world_feeds(world: SyntheticWorld, identities: Any,
                scopes: Iterable[DataScope] = SOURCES) -> dict[DataScope, ChangeFeed]:
    """The world's change feed of each scope over the same business identities."""
    return {s: WorldFeed(world, s, identities) for s in (source_scope(x) for x in scopes)}
