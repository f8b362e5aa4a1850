"""The application workflow: every allowed move, every refused one, and clear refusals."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.errors import IllegalTransition
from puhui.origination.workflow import (
    TERMINAL, TRANSITIONS, ApplicationStatus, allowed, check_transition,
)

S = ApplicationStatus

#: The workflow as specified, written out independently of the module.
EXPECTED = {
    "draft": {"submitted", "withdrawn"},
    "submitted": {"verifying", "withdrawn"},
    "verifying": {"decisioning", "declined", "referred", "withdrawn"},
    "decisioning": {"offered", "declined", "referred"},
    "referred": {"offered", "declined", "withdrawn", "expired"},
    "offered": {"accepted", "withdrawn", "expired"},
    "accepted": {"contract_signed", "withdrawn", "expired"},
    "contract_signed": {"disbursed"},
    "declined": set(), "disbursed": set(), "withdrawn": set(), "expired": set(),
}


def test_table_is_exactly_the_specified_workflow():
    assert {s.value: {t.value for t in nxt} for s, nxt in TRANSITIONS.items()} == EXPECTED
    assert set(TRANSITIONS) == set(ApplicationStatus)
    assert TERMINAL == {S.DECLINED, S.DISBURSED, S.WITHDRAWN, S.EXPIRED}


@pytest.mark.parametrize("current, target", list(itertools.product(list(S), list(S))),
                         ids=lambda s: s.value)
def test_full_matrix(current, target):
    if target.value in EXPECTED[current.value]:
        assert check_transition(current, target) is target
        assert check_transition(current.value, target.value) is target
    else:
        with pytest.raises(IllegalTransition, match=f"cannot go from {current.value} to "
                                                    f"{target.value}"):
            check_transition(current, target)


def test_refusal_names_the_allowed_moves_in_workflow_order():
    with pytest.raises(IllegalTransition) as info:
        check_transition("offered", "disbursed")
    assert str(info.value) == ("cannot go from offered to disbursed; "
                               "allowed: accepted, withdrawn, expired")
    with pytest.raises(IllegalTransition) as info:
        check_transition(S.VERIFYING, S.ACCEPTED)
    assert str(info.value).endswith("allowed: decisioning, declined, referred, withdrawn")


def test_terminal_states_say_they_are_final():
    with pytest.raises(IllegalTransition, match=r"allowed: none \(disbursed is final\)"):
        check_transition(S.DISBURSED, S.DRAFT)


@pytest.mark.parametrize("current, target", [("bogus", "draft"), ("draft", "approved"),
                                             ("", "submitted"), (None, "draft")])
def test_unknown_statuses_are_illegal(current, target):
    with pytest.raises(IllegalTransition, match="unknown application status"):
        check_transition(current, target)


def test_allowed():
    assert allowed("offered") == {S.ACCEPTED, S.WITHDRAWN, S.EXPIRED}
    assert all(allowed(s) == frozenset() for s in TERMINAL)
    with pytest.raises(IllegalTransition):
        allowed("approved")


def test_table_cannot_be_changed_at_run_time():
    with pytest.raises(TypeError):
        TRANSITIONS[S.DRAFT] = frozenset({S.DISBURSED})  # type: ignore[index]


def test_every_state_is_reachable_and_every_path_can_end():
    seen, todo = {S.DRAFT}, [S.DRAFT]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(S)
    # no cycles: the workflow always moves forward
    depth: dict[S, int] = {}

    def longest(s: S, trail: tuple[S, ...] = ()) -> int:
        assert s not in trail, f"cycle through {s}"
        if s not in depth:
            depth[s] = 1 + max((longest(t, trail + (s,)) for t in TRANSITIONS[s]), default=0)
        return depth[s]

    # draft, submitted, verifying, decisioning, referred, offered, accepted, signed, disbursed
    assert longest(S.DRAFT) == 9


statuses = st.sampled_from(list(S)) | st.sampled_from([s.value for s in S]) | st.text(max_size=12)


@settings(deadline=None)
@given(statuses, statuses)
def test_transition_allowed_iff_in_table(current, target):
    try:
        source, goal = S(current), S(target)
    except ValueError:
        with pytest.raises(IllegalTransition):
            check_transition(current, target)
        return
    if goal in TRANSITIONS[source]:
        assert check_transition(current, target) is goal
        assert goal in allowed(current)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, target)
        assert goal not in allowed(current)
