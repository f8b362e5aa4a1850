"""Connectors: where each source's payload comes from.

Why a protocol: a real lender plugs in the tax bureau's, its bank partners', the credit
bureau's and its POS partners' APIs; tests, demos and training use the synthetic world.  Both
answer `fetch(business_id, as_of)` with the raw JSON-ready payload
(`{"business_id", "as_of", "records"}`) holding nothing dated after `as_of`, and raise
`SourceUnavailable` when the provider holds nothing for that business.  Validation is not the
connector's job: the payload is stored as received and validated by `parse_payload`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Protocol, runtime_checkable

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SOURCES, source_scope
from puhui.risk.data.world import SyntheticWorld
from puhui.risk.errors import InvalidParameter


@runtime_checkable
class Connector(Protocol):
    scope: DataScope

    def fetch(self, business_id: str, as_of: date) -> dict:
        """The provider's raw payload for the business as known on `as_of`."""
        ...


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
    """The connector of each data scope a lender can query (at most one per scope)."""

    def __init__(self, connectors: Iterable[Connector]) -> None:
        self._by_scope: dict[DataScope, Connector] = {}
        for connector in connectors:
            if not isinstance(connector, Connector):
                raise InvalidParameter(f"{connector!r} is not a Connector (scope + fetch)")
            scope = source_scope(connector.scope)
            if scope in self._by_scope:
                raise InvalidParameter(f"two connectors for {scope.value}")
            self._by_scope[scope] = connector

    @classmethod
    def synthetic(cls, world: SyntheticWorld, scopes: Iterable[DataScope] = SOURCES,
                  business_ids: Mapping[str, str] | None = None) -> "ConnectorSet":
        return cls(SyntheticConnector(world, s, business_ids) for s in scopes)

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
