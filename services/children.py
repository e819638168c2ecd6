"""Child jobs a running job opens for itself: a sweep's trials, and a pipeline trial's evaluation.

A child never waits in the queue (its parent's Ray job runs it): it is born running as attempt 1, leased
to `parent:<parent id>`, and its worker calls are authorized by the live token of the root job. Opening
the same `key` again returns the same child, so a restored sweep carries on with its trials. When the
parent ends first, its running children end with it (cancelled with it, else failed).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ab_core.specs import JobSpec
from services.db import Database, utcnow
from services.events import append_event
from services.ids import new_job_id
from services.models import Job
from services.records import EventRecord, JobRecord
from services.states import JobState
from services.transitions import compare_and_set


def parent_lease(parent_id: str) -> str:
    return f"parent:{parent_id}"


def is_child_of_running_parent(row: Job | Any) -> bool:
    """A job its parent runs (not one submitted with a parent_id through the API)."""
    return row.parent_id is not None and row.lease_owner == parent_lease(row.parent_id)


def open_child(
    db: Database, parent_id: str, key: str, spec: JobSpec, params: dict[str, Any] | None
) -> tuple[JobRecord, EventRecord | None]:
    """The child `key` of `parent_id`: created running (with its first event), or the existing one."""
    idempotency_key = f"{parent_id}/{key}"
    for _ in range(2):  # a concurrent opener may win the insert: then read what it made
        try:
            with db.write() as session:
                existing = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key,
                                                            Job.parent_id == parent_id))  # fmt: skip
                if existing is not None:
                    return JobRecord.of(existing), None
                parent = session.get(Job, parent_id)
                assert parent is not None  # the caller's lease proved it
                job = _child_row(parent, idempotency_key, spec, params)
                session.execute(insert(Job).values(job))
                event = append_event(session, job["id"], 1, "state",
                                     {"state": "running", "parent": parent_id, "params": params})  # fmt: skip
                return JobRecord.of(Job(**{**job, "last_event_seq": event.seq})), event
        except IntegrityError:
            continue
    raise RuntimeError(f"could not open child {key!r} of job {parent_id}")


def _child_row(parent: Job, idempotency_key: str, spec: JobSpec, params: dict[str, Any] | None) -> dict:
    now = utcnow()
    return dict(
        id=new_job_id(), kind=spec.kind, spec=spec.model_dump(mode="json"), spec_hash=spec.spec_hash(),
        owner=parent.owner, priority=parent.priority, state=JobState.RUNNING.value, cancel_requested=False,
        attempt=1, max_attempts=1, lease_owner=parent_lease(parent.id), lease_deadline=None,
        worker_token_hash=None, parent_id=parent.id, idempotency_key=idempotency_key, last_event_seq=0,
        progress=None, params=params, result=None, error=None, created_at=now, updated_at=now,
        started_at=now, finished_at=None,
    )  # fmt: skip


def close_children(session: Session, parent_id: str, parent_state: JobState) -> list[EventRecord]:
    """End the running children (and theirs) of a parent that just ended in `parent_state`."""
    target = JobState.CANCELLED if parent_state is JobState.CANCELLED else JobState.FAILED
    reason = f"its parent job {parent_id} ended {parent_state.value} first"
    rows = session.execute(
        select(Job.id, Job.attempt).where(
            Job.parent_id == parent_id,
            Job.state == JobState.RUNNING.value,
            Job.lease_owner == parent_lease(parent_id),
        )
    ).all()
    events = []
    for row in rows:
        values: dict[str, Any] = {"state": target.value, "finished_at": utcnow()}
        if target is JobState.FAILED:
            values["error"] = reason
        if compare_and_set(session, row.id, JobState.RUNNING, values, attempt=row.attempt):
            detail = {"state": target.value, "reason": reason}
            events.append(append_event(session, row.id, row.attempt, "state", detail))
            events += close_children(session, row.id, target)
    return events
