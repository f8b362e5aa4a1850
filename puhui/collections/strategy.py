"""Collection strategies as data: the stages of a case and what each stage does.

A delinquent loan is in the stage whose `from_dpd` is the highest at or below its days past due;
the default stages follow the delinquency buckets (`puhui.loans.delinquency`: 1-30, 31-60,
61-90, 90+) and split 90+ at 180, where an external agency takes over.  Each broken promise
raises a case one stage further (never past the last): a borrower who does not keep their word
is treated as the next bucket would be.  Stages only escalate with the bucket: the cadence,
the call queue, the field visit, the legal letter and the agency hand-off are the stage's data,
so a lender writes its own strategy without code.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from puhui.collections.errors import InvalidCollectionsInput

ACTIONS = ("reminder", "call_queue", "field_visit", "legal_letter", "agency_handoff")


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of a collection strategy, from `from_dpd` days past due on."""

    name: str
    from_dpd: int
    #: days between two reminders to the borrower (SMS, app push, e-mail); None: no reminders
    reminder_every_days: int | None = None
    call_queue: bool = False       # the case is in collectors' call queues
    field_visit: bool = False      # a visit to the business premises is scheduled
    legal_letter: bool = False     # a lawyer's demand letter (律师函) is sent
    agency_handoff: bool = False   # the case is handed to an external collection agency

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or len(self.name) > 40:
            raise InvalidCollectionsInput("a stage needs a name of 1-40 characters")
        if isinstance(self.from_dpd, bool) or not isinstance(self.from_dpd, int) \
                or self.from_dpd < 1:
            raise InvalidCollectionsInput(f"stage {self.name!r}: from_dpd must be a whole "
                                          "number >= 1")
        every = self.reminder_every_days
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                                  or not 1 <= every <= 90):
            raise InvalidCollectionsInput(f"stage {self.name!r}: reminder_every_days must be "
                                          "1-90 or null")

    @property
    def actions(self) -> list[str]:
        """What the stage does, in escalating order."""
        flags = {"reminder": self.reminder_every_days is not None, "call_queue": self.call_queue,
                 "field_visit": self.field_visit, "legal_letter": self.legal_letter,
                 "agency_handoff": self.agency_handoff}
        return [a for a in ACTIONS if flags[a]]

    def reminder_due(self, days_in_case: int) -> bool:
        """Whether the stage's cadence sends a reminder on the case's `days_in_case`-th day
        (0: the day it opened)."""
        every = self.reminder_every_days
        return every is not None and days_in_case >= 0 and days_in_case % every == 0


@dataclass(frozen=True, slots=True)
class CollectionStrategy:
    """A versioned ladder of stages, strictly increasing in `from_dpd`, the first from 1."""

    version: str
    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise InvalidCollectionsInput("a strategy needs at least one stage")
        starts = [s.from_dpd for s in self.stages]
        if starts[0] != 1 or any(b <= a for a, b in zip(starts, starts[1:])):
            raise InvalidCollectionsInput("stages must start at 1 day past due and rise strictly")
        if not isinstance(self.version, str) or not self.version or len(self.version) > 40:
            raise InvalidCollectionsInput("a strategy needs a version of 1-40 characters")

    def stage_index(self, dpd: int, escalations: int = 0) -> int:
        """The stage of a case `dpd` days past due after `escalations` broken promises."""
        base = bisect.bisect_right([s.from_dpd for s in self.stages], max(dpd, 1)) - 1
        return min(base + max(escalations, 0), len(self.stages) - 1)

    def stage(self, dpd: int, escalations: int = 0) -> Stage:
        return self.stages[self.stage_index(dpd, escalations)]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "stages": [asdict(s) for s in self.stages]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CollectionStrategy":
        try:
            return cls(data["version"], tuple(Stage(**s) for s in data["stages"]))
        except (KeyError, TypeError) as exc:
            raise InvalidCollectionsInput(f"not a collection strategy: {exc}") from None


def __getattr__(name: str) -> Any:
    """`DEFAULT_STRATEGY`: the shipped collections policy's strategy (`puhui.collections.policy`;
    read on first use, since the document's model is built from this module's types)."""
    if name == "DEFAULT_STRATEGY":
        from puhui.collections.policy import shipped_collections_policy

        return shipped_collections_policy().strategy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def priority(amount_overdue: int, dpd: int) -> int:
    """A case's place in the call queue: amount overdue (fen) x days past due, highest first."""
    return max(amount_overdue, 0) * max(dpd, 0)
