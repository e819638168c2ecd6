"""Compare-and-set on a job row, and the error that explains why a compare-and-set did not apply."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from services.db import utcnow
from services.errors import IllegalTransitionError, NotFoundError, ServiceError, StaleAttemptError
from services.models import Job
from services.states import JobState, check_transition


def compare_and_set(
    session: Session,
    job_id: str,
    expect: JobState,
    values: dict[str, Any],
    *,
    attempt: int | None = None,
    where: tuple[ColumnElement[bool], ...] = (),
) -> bool:
    """UPDATE the job only while it is still in `expect` (at `attempt`, and `where` holds); True if it did."""
    if "state" in values:
        check_transition(job_id, expect, values["state"])
    statement = update(Job).where(Job.id == job_id, Job.state == expect.value, *where)
    if attempt is not None:
        statement = statement.where(Job.attempt == attempt)
    result = session.execute(
        statement.values(**values, updated_at=utcnow()).execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def refusal(session: Session, job_id: str, attempt: int | None, target: JobState | str) -> ServiceError:
    """Why `job_id` at `attempt` could not move to `target`: unknown, terminal, or a stale attempt."""
    row = session.execute(select(Job.state, Job.attempt).where(Job.id == job_id)).one_or_none()
    if row is None:
        return NotFoundError(f"no job {job_id!r}")
    state, live_attempt = JobState(row.state), row.attempt
    target = JobState(target)
    if state.terminal:
        return IllegalTransitionError(
            f"job {job_id} is {state.value}, a terminal state; it cannot become {target.value}"
        )
    if attempt is not None and attempt != live_attempt:
        return StaleAttemptError(
            f"job {job_id}: attempt {attempt} is stale; the live attempt is {live_attempt} ({state.value})"
        )
    return StaleAttemptError(
        f"job {job_id} attempt {live_attempt} is {state.value}, not running; it cannot become {target.value}"
    )
