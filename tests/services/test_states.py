"""The state machine table: which transitions exist, and what the error says about one that does not."""

from __future__ import annotations

import pytest

from services.errors import IllegalTransitionError
from services.states import ALLOWED, TERMINAL, JobState, check_transition


def test_terminal_states_have_no_way_out():
    assert TERMINAL == {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
    assert all(not ALLOWED[state] for state in TERMINAL)
    assert all(state.terminal for state in TERMINAL) and not JobState.RUNNING.terminal


@pytest.mark.parametrize(
    "current, target", [("queued", "running"), ("running", "succeeded"), ("running", "queued")]
)
def test_the_lifecycle_edges_are_allowed(current, target):
    check_transition("j", current, target)


def test_an_illegal_transition_names_the_job_the_states_and_what_is_allowed():
    expected = "job j cannot go from queued to succeeded; allowed from queued: cancelled, failed, running"
    with pytest.raises(IllegalTransitionError, match=expected):
        check_transition("j", JobState.QUEUED, JobState.SUCCEEDED)
    with pytest.raises(IllegalTransitionError, match="none: it is terminal"):
        check_transition("j", "failed", "queued")
