"""The job state machine: queued -> running -> succeeded | failed | cancelled; terminal states are final."""

from __future__ import annotations

from enum import Enum

from services.errors import IllegalTransitionError


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

# running -> queued is the reaper (or a retried infrastructure failure) handing a lost attempt back.
ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.QUEUED, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


def check_transition(job_id: str, current: JobState | str, target: JobState | str) -> None:
    """Raise IllegalTransitionError unless `current -> target` is an edge of the state machine."""
    current, target = JobState(current), JobState(target)
    if target not in ALLOWED[current]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[current])) or "none: it is terminal"
        raise IllegalTransitionError(
            f"job {job_id} cannot go from {current.value} to {target.value}; "
            f"allowed from {current.value}: {allowed}"
        )
