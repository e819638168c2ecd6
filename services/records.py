"""Plain, detached views of rows that the store hands out (no ORM object ever leaves a session)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from services.models import Artifact, Job, JobEvent
from services.states import JobState


@dataclass(frozen=True)
class Principal:
    """Who is calling: the owner named on the API token, and whether it may see every owner's jobs."""

    owner: str
    admin: bool = False


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    spec: dict[str, Any]
    spec_hash: str
    owner: str
    priority: int
    state: JobState
    cancel_requested: bool
    attempt: int
    max_attempts: int
    lease_owner: str | None
    lease_deadline: datetime | None
    parent_id: str | None
    idempotency_key: str | None
    last_event_seq: int
    progress: dict[str, Any] | None
    params: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Job | Row[Any]) -> JobRecord:
        """From an ORM row or a Core row of the jobs table (same attribute names)."""
        return cls(
            id=row.id, kind=row.kind, spec=row.spec, spec_hash=row.spec_hash, owner=row.owner,
            priority=row.priority, state=JobState(row.state), cancel_requested=row.cancel_requested,
            attempt=row.attempt, max_attempts=row.max_attempts, lease_owner=row.lease_owner,
            lease_deadline=row.lease_deadline, parent_id=row.parent_id, idempotency_key=row.idempotency_key,
            last_event_seq=row.last_event_seq, progress=row.progress, params=row.params, result=row.result,
            error=row.error, created_at=row.created_at, updated_at=row.updated_at, started_at=row.started_at,
            finished_at=row.finished_at,
        )  # fmt: skip


@dataclass(frozen=True)
class EventRecord:
    job_id: str
    seq: int
    attempt: int
    kind: str
    data: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, row: JobEvent) -> EventRecord:
        return cls(row.job_id, row.seq, row.attempt, row.kind, row.data, row.created_at)

    @property
    def terminal(self) -> bool:
        """The state event that ends a job's history."""
        return self.kind == "state" and JobState(self.data["state"]).terminal


@dataclass(frozen=True)
class ArtifactRecord:
    id: int
    job_id: str
    attempt: int
    name: str
    kind: str
    path: str
    size_bytes: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: Artifact) -> ArtifactRecord:
        return cls(
            row.id, row.job_id, row.attempt, row.name, row.kind, row.path, row.size_bytes, row.created_at
        )


@dataclass(frozen=True)
class Claim:
    """A job handed to one worker: run `spec` as attempt `attempt`, post back with `worker_token`."""

    job_id: str
    attempt: int
    spec: dict[str, Any]
    worker_token: str
    lease_deadline: datetime


@dataclass(frozen=True)
class Page:
    """One page of a listing; pass `next_cursor` back to get the next one (None: that was the last)."""

    items: list[Any]
    next_cursor: str | None
