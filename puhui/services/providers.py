"""The synthetic world as a demo platform's data providers.

Why a link by hash: a real provider finds a business by its unified social credit code or the
owner's ID; a demo or test platform registers applicants of its own, which the synthetic world
has never heard of.  Each applicant id is therefore matched, stably, to one of the world's
businesses (SHA-256 of the id, modulo the population), and every provider answers for that
business under the applicant's id.  The same applicant always gets the same history, whichever
process asks, so decisions replay and the demo server needs no shared state.
"""

from __future__ import annotations

import hashlib
from datetime import date

from puhui.origination.consent import DataScope
from puhui.risk.data.connectors import ConnectorSet
from puhui.risk.data.payload import SOURCES, source_scope
from puhui.risk.data.world import SyntheticWorld


def world_business(world: SyntheticWorld, applicant_id: str) -> str:
    """The world business standing in for `applicant_id`."""
    digest = hashlib.sha256(f"puhui-world:{applicant_id}".encode("utf-8")).digest()
    return str(world.ids[int.from_bytes(digest[:8], "big") % world.n])


class WorldProvider:
    """One data source of the world, answering for applicants by their linked business."""

    def __init__(self, world: SyntheticWorld, scope: DataScope | str) -> None:
        self.world, self.scope = world, source_scope(scope)

    def fetch(self, business_id: str, as_of: date) -> dict:
        payload = self.world.payload(self.scope, world_business(self.world, business_id), as_of)
        return {**payload, "business_id": business_id}

    def __repr__(self) -> str:
        return f"WorldProvider({self.scope.value})"


def world_connectors(world: SyntheticWorld) -> ConnectorSet:
    """Every source of `world` as a provider linked to applicants by hash."""
    return ConnectorSet(WorldProvider(world, scope) for scope in SOURCES)
