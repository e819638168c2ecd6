"""What a worker may do with its job-scoped token: read its job, post events, register artifacts, finish."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select, update

from ab_core.specs import parse_spec
from services.bus import EventBus
from services.children import is_child_of_running_parent, open_child
from services.db import Database, utcnow
from services.errors import InvalidArtifactError, InvalidEventError, UnauthorizedError
from services.events import EVENT_KINDS_FROM_WORKERS, append_event
from services.models import Artifact, Job
from services.pipelines import resolve_backbone, resolve_registration
from services.queue import HeartbeatReply, JobQueue
from services.records import ArtifactRecord, JobRecord
from services.states import JobState
from services.tokens import hash_token
from services.transitions import refusal

MAX_CHILD_DEPTH = 3  # sweep -> trial -> the trial's evaluation


@dataclass(frozen=True)
class WorkerLease:
    """The attempt a worker token was issued for."""

    job_id: str
    attempt: int
    worker_id: str | None


class WorkerChannel:
    """The server side of the worker's HTTP calls; every write is checked against the live attempt."""

    def __init__(self, db: Database, bus: EventBus, queue: JobQueue, storage_root: Path):
        self.db, self.bus, self.queue = db, bus, queue
        self.storage_root = storage_root.expanduser().resolve()

    def job_dir(self, job_id: str) -> Path:
        return self.storage_root / job_id

    def authenticate(self, job_id: str, token: str) -> WorkerLease:
        """The token of the live attempt of the job, or of the root job that opened it (a sweep's trial)."""
        columns = (Job.id, Job.worker_token_hash, Job.attempt, Job.lease_owner, Job.parent_id)
        given = hash_token(token)
        with self.db.read() as session:
            job = row = session.execute(select(*columns).where(Job.id == job_id)).one_or_none()
            for _ in range(MAX_CHILD_DEPTH + 1):
                if row is None:
                    break
                if row.worker_token_hash is not None and hmac.compare_digest(row.worker_token_hash, given):
                    assert job is not None
                    return WorkerLease(job_id, job.attempt, job.lease_owner)
                if not is_child_of_running_parent(row):
                    break
                row = session.execute(select(*columns).where(Job.id == row.parent_id)).one_or_none()
        raise UnauthorizedError(
            f"the worker token is not the one issued for the live attempt of job {job_id} (or of its parent)"
        )

    def job(self, lease: WorkerLease) -> JobRecord:
        """The job, with `backbone.weights` (and RegAD's `method.registration.path`) filled in from its
        `from_job`'s checkpoint."""
        with self.db.read() as session:
            row = session.get(Job, lease.job_id)
            assert row is not None
            record = JobRecord.of(row)
            return replace(record, spec=resolve_registration(session, resolve_backbone(session, record.spec)))

    def open_child(
        self, lease: WorkerLease, key: str, spec: dict[str, Any], params: dict[str, Any] | None
    ) -> JobRecord:
        """A trial (or a pipeline trial's evaluation) of the leased job; the same key, the same child."""
        with self.db.read() as session:
            if session.scalar(select(Job.state).where(Job.id == lease.job_id)) != JobState.RUNNING.value:
                raise refusal(session, lease.job_id, lease.attempt, JobState.RUNNING)
        child, event = open_child(self.db, lease.job_id, key, parse_spec(spec), params)
        if event is not None:
            self.bus.publish(event)
        return child

    def post_event(self, lease: WorkerLease, kind: str, data: dict[str, Any]) -> int:
        """Append a progress / log / checkpoint event; progress also becomes the job's latest progress."""
        if kind not in EVENT_KINDS_FROM_WORKERS:
            raise InvalidEventError(
                f"event kind {kind!r}; workers may post {', '.join(EVENT_KINDS_FROM_WORKERS)}"
            )
        with self.db.write() as session:
            live = update(Job).where(
                Job.id == lease.job_id, Job.attempt == lease.attempt, Job.state == JobState.RUNNING.value
            )
            values: dict[str, Any] = {"updated_at": utcnow()}
            if kind == "progress":
                values["progress"] = {**data, "updated_at": utcnow().isoformat()}
            changed = session.execute(live.values(**values).execution_options(synchronize_session=False))
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise refusal(session, lease.job_id, lease.attempt, JobState.RUNNING)
            event = append_event(session, lease.job_id, lease.attempt, kind, data)
        self.bus.publish(event)
        return event.seq

    def heartbeat(self, lease: WorkerLease, lease_seconds: float | None = None) -> HeartbeatReply:
        return self.queue.heartbeat(lease.job_id, lease.attempt, lease.worker_id or "", lease_seconds)

    def finish(
        self,
        lease: WorkerLease,
        state: Literal["succeeded", "failed", "cancelled"],
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> JobRecord:
        if state == "succeeded":
            return self.queue.complete(lease.job_id, lease.attempt, result or {})
        if state == "failed":
            return self.queue.fail(lease.job_id, lease.attempt, error or "the worker reported a failure")
        return self.queue.mark_cancelled(lease.job_id, lease.attempt, error or "cancelled")

    def register_artifact(self, lease: WorkerLease, name: str, kind: str, path: str) -> ArtifactRecord:
        """Record a file the job wrote; `path` is absolute or relative to the job's directory and must lie
        under the storage root. Registering a name again (a later attempt) replaces it."""
        given = Path(path).expanduser()
        resolved = (given if given.is_absolute() else self.job_dir(lease.job_id) / given).resolve()
        if self.storage_root not in resolved.parents:
            raise InvalidArtifactError(
                f"artifact path {path!r} resolves to {str(resolved)!r}, "
                f"outside the storage root {self.storage_root}"
            )
        if not resolved.is_file():
            raise InvalidArtifactError(
                f"artifact path {str(resolved)!r} is not a file; register files one by one"
            )
        size = resolved.stat().st_size
        with self.db.write() as session:
            live = session.scalar(
                select(Job.id).where(
                    Job.id == lease.job_id, Job.attempt == lease.attempt, Job.state == JobState.RUNNING.value
                )
            )
            if live is None:
                raise refusal(session, lease.job_id, lease.attempt, JobState.RUNNING)
            row = session.scalar(
                select(Artifact).where(Artifact.job_id == lease.job_id, Artifact.name == name)
            )
            if row is None:
                row = Artifact(job_id=lease.job_id, name=name)
                session.add(row)
            row.attempt, row.kind, row.path, row.size_bytes, row.created_at = (
                lease.attempt,
                kind,
                str(resolved),
                size,
                utcnow(),
            )
            session.flush()
            artifact = ArtifactRecord.of(row)
            event = append_event(
                session, lease.job_id, lease.attempt, "artifact", {"name": name, "kind": kind}
            )
        self.bus.publish(event)
        return artifact
