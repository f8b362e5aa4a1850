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
from collections.abc import Mapping
from datetime import date

from puhui.parties.consent import DataScope
import orjson

from puhui.risk.data.connectors import Connector, ConnectorSet, Received
from puhui.risk.data.payload import SOURCES, source_scope
from puhui.risk.data.resilience import SourceSettings
from puhui.risk.data.world import SyntheticWorld
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
