"""Change feeds: a source telling what is new since the last delivery, for a whole book at once.

Why: asking every source about every monitored business one at a time (`Connector.fetch`) costs
a round trip per business and source even when nothing changed; a 15-minute refresh of 200,000
businesses cannot afford it.  A change feed answers one question per page instead: "what
changed since this cursor?" -- for each business with news, a *delta*: a payload of the scope's
own schema (`{"business_id", "as_of", "records"}`) holding only the records new or changed
since the previous delivery.  A record that changed (an order refunded, a bill paid) is sent
again whole; its natural key (`lines.signals.RECORD_KEYS`) makes it replace the earlier one
when the deltas are merged.

The cursor is the provider's own opaque text: the platform keeps it (beside what the page
delivered, in one transaction) and gives it back to resume.  Asked again from an older cursor a
feed delivers the same records again, which merging by natural key makes harmless.

The network adapter (`services.change_feeds.HttpChangeFeed`) lives with the services, as
`HttpConnector` does; this module stays pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, runtime_checkable

from puhui.parties.consent import DataScope
from puhui.risk.data.connectors import Received


@dataclass(frozen=True, slots=True)
class FeedChange:
    """One business's delta: the records new since the previous delivery, as received."""

    business_id: str
    received: Received


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A page of changes, the cursor to ask from next, and whether more is waiting."""

    changes: list[FeedChange] = field(default_factory=list)
    cursor: str = ""
    more: bool = False


@runtime_checkable
class ChangeFeed(Protocol):
    """A source's change feed for one data scope."""

    scope: DataScope

    def changes(self, since: str | None, limit: int, as_of: date) -> FeedPage:
        """Up to `limit` businesses' deltas known on `as_of` after cursor `since` (None: from
        the start, every business's whole history); `SourceFailed` / `SourceUnavailable`
        when the feed cannot answer."""
        ...


__all__ = ["FeedChange", "FeedPage", "ChangeFeed"]
