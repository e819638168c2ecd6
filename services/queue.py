"""The job queue: atomic claims with leases, heartbeats, compare-and-set completion, and the lease reaper.

At-least-once: a claim hands out (job, attempt) with a lease deadline; a worker that stops heartbeating loses
its lease to the reaper, which queues the job again (the next claim is attempt + 1) until `max_attempts`.
Every write names the attempt it belongs to, so a stale attempt can never change a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from services.bus import EventBus
from services.children import close_children
from services.db import Database, utcnow
from services.errors import NotFoundError
from services.events import append_event
from services.models import Job
from services.records import Claim, EventRecord, JobRecord
from services.states import JobState
from services.tokens import hash_token, new_worker_token
from services.transitions import compare_and_set, refusal

CLAIM_ORDER = (Job.priority.desc(), Job.created_at, Job.id)


@dataclass(frozen=True)
class HeartbeatReply:
    lease_deadline: datetime
    cancel_requested: bool


@dataclass
class ReapReport:
    """What one reaper pass did, as (job id, attempt) pairs."""

    requeued: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, int]] = field(default_factory=list)
    cancelled: list[tuple[str, int]] = field(default_factory=list)


class JobQueue:
    """Claims for dispatchers and workers; the same calls serve the Ray dispatcher and the burst worker."""

    def __init__(self, db: Database, bus: EventBus, lease_seconds: float = 60.0):
        self.db, self.bus = db, bus
        self.lease_seconds = lease_seconds

    def _publish(self, events: list[EventRecord]) -> None:
        for event in events:
            self.bus.publish(event)

    def queued(self, limit: int = 100) -> list[JobRecord]:
        """Queued jobs in claim order (highest priority, then oldest): what a dispatcher may place next."""
        with self.db.read() as session:
            rows = session.scalars(
                select(Job).where(Job.state == JobState.QUEUED.value).order_by(*CLAIM_ORDER).limit(limit)
            )
            return [JobRecord.of(row) for row in rows]

    def claim(
        self,
        worker_id: str,
        lease_seconds: float | None = None,
        limit: int = 1,
        job_ids: list[str] | None = None,
    ) -> list[Claim]:
        """Take up to `limit` queued jobs (or those of `job_ids` still queued), highest priority first then
        oldest; each becomes running as a new attempt leased to `worker_id`. Concurrent claimers never get
        the same job."""
        lease = timedelta(seconds=lease_seconds or self.lease_seconds)
        claims, events = [], []
        query = select(Job.id).where(Job.state == JobState.QUEUED.value, Job.cancel_requested.is_(False))
        if job_ids is not None:
            query, limit = query.where(Job.id.in_(job_ids)), len(job_ids)
        with self.db.write() as session:  # SQLite: BEGIN IMMEDIATE; PostgreSQL: rows locked, others skipped
            candidates = session.scalars(
                query.order_by(*CLAIM_ORDER).limit(limit).with_for_update(skip_locked=True)
            ).all()
            for job_id in candidates:
                now = utcnow()
                token = new_worker_token()
                claimed = session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.state == JobState.QUEUED.value)
                    .values(
                        state=JobState.RUNNING.value,
                        attempt=Job.attempt + 1,
                        lease_owner=worker_id,
                        lease_deadline=now + lease,
                        worker_token_hash=hash_token(token),
                        updated_at=now,
                        started_at=now,
                    )  # fmt: skip
                    .returning(Job.attempt, Job.spec)
                    .execution_options(synchronize_session=False)
                ).one_or_none()
                if claimed is None:
                    continue
                claims.append(Claim(job_id, claimed.attempt, claimed.spec, token, now + lease))
                events.append(
                    append_event(
                        session, job_id, claimed.attempt, "state", {"state": "running", "worker": worker_id}
                    )
                )
        self._publish(events)
        return claims

    def heartbeat(
        self, job_id: str, attempt: int, worker_id: str, lease_seconds: float | None = None
    ) -> HeartbeatReply:
        """Extend the lease of a live attempt; the reply says whether a cancel was requested."""
        deadline = utcnow() + timedelta(seconds=lease_seconds or self.lease_seconds)
        with self.db.write() as session:
            cancel_requested = session.scalar(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.attempt == attempt,
                    Job.state == JobState.RUNNING.value,
                    Job.lease_owner == worker_id,
                )  # fmt: skip
                .values(lease_deadline=deadline, updated_at=utcnow())
                .returning(Job.cancel_requested)
                .execution_options(synchronize_session=False)
            )
            if cancel_requested is None:
                raise refusal(session, job_id, attempt, JobState.RUNNING)
        return HeartbeatReply(deadline, cancel_requested)

    def _finish(
        self, job_id: str, attempt: int, target: JobState, values: dict[str, Any], event: dict[str, Any]
    ) -> JobRecord:
        with self.db.write() as session:
            if not compare_and_set(
                session, job_id, JobState.RUNNING, {"state": target.value, **values}, attempt=attempt
            ):
                raise refusal(session, job_id, attempt, target)
            events = [append_event(session, job_id, attempt, "state", {"state": target.value, **event})]
            if target.terminal:
                events += close_children(session, job_id, target)
            row = session.get(Job, job_id, populate_existing=True)
            assert row is not None
            job = JobRecord.of(row)
        self._publish(events)
        return job

    def complete(self, job_id: str, attempt: int, result: dict[str, Any]) -> JobRecord:
        """running -> succeeded, only for the live attempt; the error of an earlier attempt is cleared (its
        events keep it)."""
        done = {"result": result, "error": None, "finished_at": utcnow(), "lease_deadline": None}
        return self._finish(job_id, attempt, JobState.SUCCEEDED, done, {})

    def fail(self, job_id: str, attempt: int, error: str, *, retry: bool = False) -> JobRecord:
        """running -> failed; with `retry` (an infrastructure fault, not the user's) -> queued again while
        attempts remain."""
        if retry:
            with self.db.read() as session:
                row = session.get(Job, job_id)
                if row is None:
                    raise NotFoundError(f"no job {job_id!r}")
                retry = attempt < row.max_attempts and not row.cancel_requested
        if retry:
            again = {"lease_owner": None, "lease_deadline": None, "error": error}
            return self._finish(job_id, attempt, JobState.QUEUED, again, {"reason": error})
        failed = {"error": error, "finished_at": utcnow(), "lease_deadline": None}
        return self._finish(job_id, attempt, JobState.FAILED, failed, {"error": error})

    def mark_cancelled(self, job_id: str, attempt: int, reason: str = "cancelled") -> JobRecord:
        """running -> cancelled, once the worker of this attempt has stopped."""
        stopped = {"finished_at": utcnow(), "lease_deadline": None, "cancel_requested": True}
        return self._finish(job_id, attempt, JobState.CANCELLED, stopped, {"reason": reason})

    def reap_expired(self, now: datetime | None = None) -> ReapReport:
        """Expired leases: cancel if requested, else queue again while attempts remain, else fail."""
        now = now or utcnow()
        report, events = ReapReport(), []
        with self.db.write() as session:
            expired = session.execute(
                select(Job.id, Job.attempt, Job.max_attempts, Job.cancel_requested, Job.lease_owner)
                .where(Job.state == JobState.RUNNING.value, Job.lease_deadline < now)
                .order_by(Job.lease_deadline)
                .with_for_update(skip_locked=True)
            ).all()
            for job in expired:
                target, values, detail = _after_expiry(job, now)
                if compare_and_set(
                    session,
                    job.id,
                    JobState.RUNNING,
                    values,
                    attempt=job.attempt,
                    where=(Job.lease_deadline < now,),
                ):
                    bucket = {JobState.QUEUED: report.requeued, JobState.FAILED: report.failed}
                    bucket.get(target, report.cancelled).append((job.id, job.attempt))
                    events.append(append_event(session, job.id, job.attempt, "state", detail))
                    if target.terminal:
                        events += close_children(session, job.id, target)
        self._publish(events)
        for job_id, _attempt in report.requeued:
            self.bus.signal("work", job_id)
        return report

    def running(self) -> list[JobRecord]:
        """Every running job (the dispatcher reconciles these against Ray)."""
        with self.db.read() as session:
            rows = session.scalars(select(Job).where(Job.state == JobState.RUNNING.value).order_by(Job.id))
            return [JobRecord.of(row) for row in rows]


def _after_expiry(job: Any, now: datetime) -> tuple[JobState, dict[str, Any], dict[str, Any]]:
    """Where a job whose lease expired goes: (state, column values, state event data)."""
    lost = f"lease of attempt {job.attempt} (worker {job.lease_owner}) expired without a heartbeat"
    values: dict[str, Any] = {"lease_deadline": None}
    if job.cancel_requested:
        target, detail = JobState.CANCELLED, {"reason": f"cancelled; {lost}"}
        values["finished_at"] = now
    elif job.attempt < job.max_attempts:
        target, detail = JobState.QUEUED, {"reason": lost}
        values["lease_owner"] = None
    else:
        error = f"{lost}; gave up after {job.max_attempts} attempts"
        target, detail = JobState.FAILED, {"error": error}
        values.update(finished_at=now, error=error)
    return target, {"state": target.value, **values}, {"state": target.value, **detail}
