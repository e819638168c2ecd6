"""The durable event log: append-only rows with a per-job sequence number 1, 2, 3 ... in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.db import utcnow
from services.models import Job, JobEvent
from services.records import EventRecord

EVENT_KINDS_FROM_WORKERS = ("progress", "log", "checkpoint")


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
