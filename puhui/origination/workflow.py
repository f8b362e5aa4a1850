"""The states of a loan application and the only moves between them.

Why a table: the store and the API both change an application's status, and neither may invent a
path (say, disbursing an offer nobody accepted).  `TRANSITIONS` is the whole workflow; every change
goes through `check_transition`, which names the allowed moves when it refuses one.

    DRAFT -> SUBMITTED -> VERIFYING -> DECISIONING -> OFFERED -> ACCEPTED -> CONTRACT_SIGNED
                                                                              -> DISBURSED
    VERIFYING / DECISIONING may end in DECLINED or go to REFERRED (manual review), which offers
    or declines; an applicant may withdraw until the contract is signed (not while the automated
    decision runs); referrals, offers and accepted offers may expire.
"""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import Mapping

from puhui.errors import IllegalTransition


class ApplicationStatus(str, enum.Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    VERIFYING = "verifying"
    DECISIONING = "decisioning"
    OFFERED = "offered"
    DECLINED = "declined"
    REFERRED = "referred"
    ACCEPTED = "accepted"
    CONTRACT_SIGNED = "contract_signed"
    DISBURSED = "disbursed"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


_S = ApplicationStatus

TRANSITIONS: Mapping[ApplicationStatus, frozenset[ApplicationStatus]] = MappingProxyType({
    _S.DRAFT: frozenset({_S.SUBMITTED, _S.WITHDRAWN}),
    _S.SUBMITTED: frozenset({_S.VERIFYING, _S.WITHDRAWN}),
    _S.VERIFYING: frozenset({_S.DECISIONING, _S.DECLINED, _S.REFERRED, _S.WITHDRAWN}),
    _S.DECISIONING: frozenset({_S.OFFERED, _S.DECLINED, _S.REFERRED}),
    _S.REFERRED: frozenset({_S.OFFERED, _S.DECLINED, _S.WITHDRAWN, _S.EXPIRED}),
    _S.OFFERED: frozenset({_S.ACCEPTED, _S.WITHDRAWN, _S.EXPIRED}),
    _S.ACCEPTED: frozenset({_S.CONTRACT_SIGNED, _S.WITHDRAWN, _S.EXPIRED}),
    _S.CONTRACT_SIGNED: frozenset({_S.DISBURSED}),
    _S.DECLINED: frozenset(),
    _S.DISBURSED: frozenset(),
    _S.WITHDRAWN: frozenset(),
    _S.EXPIRED: frozenset(),
})

#: States an application never leaves.
TERMINAL: frozenset[ApplicationStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

_ORDER = {s: k for k, s in enumerate(ApplicationStatus)}


def _status(value: ApplicationStatus | str) -> ApplicationStatus:
    try:
        return ApplicationStatus(value)
    except ValueError:
        raise IllegalTransition(f"unknown application status {value!r}; known: "
                                f"{', '.join(s.value for s in ApplicationStatus)}") from None


def allowed(current: ApplicationStatus | str) -> frozenset[ApplicationStatus]:
    """The statuses an application in `current` may move to (empty when it is final)."""
    return TRANSITIONS[_status(current)]


def check_transition(current: ApplicationStatus | str, target: ApplicationStatus | str
                     ) -> ApplicationStatus:
    """`target` as a status if the workflow allows moving there from `current`."""
    source, goal = _status(current), _status(target)
    options = TRANSITIONS[source]
    if goal not in options:
        listed = ", ".join(s.value for s in sorted(options, key=_ORDER.__getitem__))
        raise IllegalTransition(f"cannot go from {source.value} to {goal.value}; allowed: "
                                f"{listed or f'none ({source.value} is final)'}")
    return goal
