"""The durable event log: append-only rows with a per-job sequence number 1, 2, 3 ... in SQL."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.db import utcnow
from services.models import Job, JobEvent
from services.records import EventRecord

EVENT_KINDS_FROM_WORKERS = ("progress", "log", "checkpoint")


class _Event(Protocol):
    seq: int
    data: dict[str, Any]


E = TypeVar("E", bound=_Event)


def step_of(event: _Event) -> int | None:
    """The training step a progress event reports, or None (an evaluation's per-category report)."""
    step = event.data.get("step")
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def latest_per_step(progress: Iterable[E]) -> list[E]:
    """Progress events in order, one per step: where a later attempt reported a step again (a resumed job
    reports from its last checkpoint), its event takes the earlier one's place. Events with no step stay."""
    by_step: dict[object, E] = {}
    for event in progress:
        step = step_of(event)
        by_step[("seq", event.seq) if step is None else step] = event
    return list(by_step.values())


def append_event(session: Session, job_id: str, attempt: int, kind: str, data: dict[str, Any]) -> EventRecord:
    """Append one event inside the caller's transaction; the job row's counter hands out `seq` atomically."""
    seq = session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(last_event_seq=Job.last_event_seq + 1)
        .returning(Job.last_event_seq)
    ).scalar_one()
    row = JobEvent(job_id=job_id, seq=seq, attempt=attempt, kind=kind, data=data, created_at=utcnow())
    session.add(row)
    session.flush()
    return EventRecord.of(row)


def events_after(session: Session, job_id: str, after_seq: int, limit: int) -> list[EventRecord]:
    """Events with seq > after_seq, oldest first, at most `limit`."""
    rows = session.scalars(
        select(JobEvent)
        .where(JobEvent.job_id == job_id, JobEvent.seq > after_seq)
        .order_by(JobEvent.seq)
        .limit(limit)
    )
    return [EventRecord.of(row) for row in rows]
