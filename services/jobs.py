"""The job store for API callers: submit (idempotently), read, list, cancel, and read a job's history."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ab_core.specs import JobSpec
from ab_core.sweeps import SweepSpec
from services.bus import EventBus
from services.children import is_child_of_running_parent
from services.db import Database, utcnow
from services.errors import ConflictError, IdempotencyConflictError, NotFoundError, SpecRejectedError
from services.events import append_event, events_after
from services.ids import new_job_id
from services.models import Artifact, Job, JobEvent
from services.pipelines import registration_upstream, upstream_of
from services.policy import check_dataset_root
from services.records import ArtifactRecord, EventRecord, JobRecord, Page, Principal
from services.states import JobState
from services.transitions import compare_and_set
from services.weights_policy import check_weights

MAX_PAGE_SIZE = 200
JOB_BY_ID = select(Job.__table__).where(Job.__table__.c.id == bindparam("job_id"))


class JobStore:
    """Every read and write of an API caller; ownership is checked here (another owner's job is unknown)."""

    def __init__(
        self, db: Database, bus: EventBus, dataset_roots: list[Path], runs_dir: Path, max_attempts: int = 3
    ):
        self.db, self.bus = db, bus
        self.dataset_roots, self.runs_dir = dataset_roots, runs_dir
        self.max_attempts = max_attempts

    # -- submit -----------------------------------------------------------------------------------------

    def submit(
        self,
        principal: Principal,
        spec: JobSpec | SweepSpec,
        *,
        priority: int = 0,
        idempotency_key: str | None = None,
        parent_id: str | None = None,
        max_attempts: int | None = None,
    ) -> tuple[JobRecord, bool]:
        """Queue a job; returns (job, created). The same owner and `idempotency_key` return the first job."""
        check_dataset_root(spec, self.dataset_roots)
        check_weights(spec, self.dataset_roots, self.runs_dir, lambda job: self._may_see(principal, job))
        spec_hash = spec.spec_hash()
        if idempotency_key is not None:
            existing = self._by_idempotency_key(principal.owner, idempotency_key, spec_hash)
            if existing is not None:
                return existing, False
        now, job_id = utcnow(), new_job_id()
        job: dict[str, Any] = dict(
            id=job_id, kind=spec.kind, spec=spec.model_dump(mode="json"), spec_hash=spec_hash,
            owner=principal.owner, priority=priority, state=JobState.QUEUED.value, cancel_requested=False,
            attempt=0, max_attempts=max_attempts or self.max_attempts, lease_owner=None, lease_deadline=None,
            worker_token_hash=None, parent_id=parent_id, idempotency_key=idempotency_key, last_event_seq=1,
            progress=None, params=None, result=None, error=None, created_at=now, updated_at=now,
            started_at=None, finished_at=None,
        )  # fmt: skip
        event = EventRecord(job_id, 1, 0, "state", {"state": "queued", "priority": priority}, now)
        try:
            with self.db.write() as session:  # the job and its first event, as two plain INSERTs
                if parent_id is not None:
                    self._visible(session, principal, parent_id)
                self._check_upstream(session, principal, job["spec"])
                session.execute(insert(Job).values(job))
                session.execute(insert(JobEvent).values(asdict(event)))
        except IntegrityError:
            if idempotency_key is None:
                raise
            existing = self._by_idempotency_key(principal.owner, idempotency_key, spec_hash)
            if existing is None:
                raise
            return existing, False
        self.bus.publish(event)
        self.bus.signal("work", event.job_id)
        return JobRecord.of(Job(**job)), True

    def _check_upstream(self, session: Session, principal: Principal, spec: dict[str, Any]) -> None:
        """A `backbone.from_job` must name a pretraining job, or a sweep of them, that the caller sees; a
        `method.registration.from_job`, a RegAD evaluation the caller sees."""
        reused = registration_upstream(spec)
        if reused is not None:
            row = session.get(Job, reused)
            if row is None or (row.owner != principal.owner and not principal.admin):
                raise SpecRejectedError([f"method.registration.from_job: no job {reused!r} visible to owner "
                                         f"{principal.owner!r}"])  # fmt: skip
            if row.kind != "evaluate" or (row.spec.get("method") or {}).get("method") != "regad":
                raise SpecRejectedError([f"method.registration.from_job: job {reused} ({row.kind}) trains no "
                                         "registration network; name a RegAD evaluation"])  # fmt: skip
        upstream = upstream_of(spec)
        if upstream is None:
            return
        field = "trial.backbone.from_job" if spec["kind"] == "sweep" else "backbone.from_job"
        row = session.get(Job, upstream)
        if row is None or (row.owner != principal.owner and not principal.admin):
            raise SpecRejectedError([f"{field}: no job {upstream!r} visible to owner {principal.owner!r}"])
        trial_kind = (row.spec.get("trial") or {}).get("kind")
        trains = row.kind == "pretrain" or (row.kind == "sweep" and trial_kind == "pretrain")
        if not trains:
            raise SpecRejectedError([f"{field}: job {upstream} ({row.kind}) makes no backbone; "
                                     "name a pretraining job or a sweep of pretrainings"])  # fmt: skip

    def _may_see(self, principal: Principal, job_id: str) -> bool:
        with self.db.read() as session:
            owner = session.scalar(select(Job.owner).where(Job.id == job_id))
        return owner is not None and (owner == principal.owner or principal.admin)

    def _by_idempotency_key(self, owner: str, key: str, spec_hash: str) -> JobRecord | None:
        with self.db.read() as session:
            row = session.scalar(select(Job).where(Job.owner == owner, Job.idempotency_key == key))
            if row is None:
                return None
            if row.spec_hash != spec_hash:
                raise IdempotencyConflictError(
                    f"Idempotency-Key {key!r} was used for job {row.id} with another spec "
                    f"(hash {row.spec_hash[:12]}..., this one {spec_hash[:12]}...); use a new key"
                )
            return JobRecord.of(row)

    # -- read -------------------------------------------------------------------------------------------

    @staticmethod
    def _visible(session: Session, principal: Principal, job_id: str) -> Job:
        row = session.get(Job, job_id)
        if row is None or (row.owner != principal.owner and not principal.admin):
            raise NotFoundError(f"no job {job_id!r} visible to owner {principal.owner!r}")
        return row

    def get(self, principal: Principal, job_id: str) -> JobRecord:
        """The poll path: one indexed SELECT on a bare connection."""
        with self.db.connect() as connection:
            row = connection.execute(JOB_BY_ID, {"job_id": job_id}).one_or_none()
        if row is None or (row.owner != principal.owner and not principal.admin):
            raise NotFoundError(f"no job {job_id!r} visible to owner {principal.owner!r}")
        return JobRecord.of(row)

    def list_jobs(
        self,
        principal: Principal,
        *,
        state: JobState | None = None,
        kind: str | None = None,
        parent_id: str | None = None,
        owner: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Newest first; `cursor` is the id of the last job of the previous page. Admins may pick an owner."""
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        query = select(Job).order_by(Job.id.desc()).limit(limit + 1)
        if not principal.admin:
            query = query.where(Job.owner == principal.owner)
        elif owner is not None:
            query = query.where(Job.owner == owner)
        if state is not None:
            query = query.where(Job.state == JobState(state).value)
        if kind is not None:
            query = query.where(Job.kind == kind)
        if parent_id is not None:
            query = query.where(Job.parent_id == parent_id)
        if cursor is not None:
            query = query.where(Job.id < cursor)
        with self.db.read() as session:
            rows = [JobRecord.of(row) for row in session.scalars(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, rows[-1].id if more else None)

    def events(self, principal: Principal, job_id: str, after_seq: int = 0, limit: int = 100) -> Page:
        """A page of the job's history, oldest first; the cursor is the last seq returned."""
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        with self.db.read() as session:
            self._visible(session, principal, job_id)
            items = events_after(session, job_id, after_seq, limit + 1)
        more = len(items) > limit
        items = items[:limit]
        return Page(items, str(items[-1].seq) if more else None)

    def events_since(
        self, job_id: str, after_seq: int, limit: int = 500
    ) -> tuple[list[EventRecord], JobState]:
        """For the live stream (ownership already checked): events after `after_seq` and the job's state."""
        with self.db.read() as session:
            state = session.scalar(select(Job.state).where(Job.id == job_id))
            if state is None:
                raise NotFoundError(f"no job {job_id!r}")
            return events_after(session, job_id, after_seq, limit), JobState(state)

    def artifacts(self, principal: Principal, job_id: str) -> list[ArtifactRecord]:
        with self.db.read() as session:
            self._visible(session, principal, job_id)
            rows = session.scalars(select(Artifact).where(Artifact.job_id == job_id).order_by(Artifact.id))
            return [ArtifactRecord.of(row) for row in rows]

    def artifact(self, principal: Principal, job_id: str, artifact_id: int) -> ArtifactRecord:
        with self.db.read() as session:
            self._visible(session, principal, job_id)
            row = session.get(Artifact, artifact_id)
            if row is None or row.job_id != job_id:
                raise NotFoundError(f"job {job_id} has no artifact {artifact_id}")
            return ArtifactRecord.of(row)

    def count_by_state(self) -> dict[str, int]:
        """How many jobs are in each state (all owners): the metrics gauge."""
        with self.db.read() as session:
            rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
        return {state.value: 0 for state in JobState} | {state: count for state, count in rows}

    # -- cancel -----------------------------------------------------------------------------------------

    def cancel(self, principal: Principal, job_id: str) -> JobRecord:
        """Idempotent. A queued job becomes cancelled at once (and is never claimed); a running one gets the
        cancel-requested flag and a cancel signal; a terminal one is returned unchanged."""
        with self.db.write() as session:
            row = self._visible(session, principal, job_id)
            if is_child_of_running_parent(row) and not JobState(row.state).terminal:
                raise ConflictError(f"job {job_id} runs inside job {row.parent_id} (a sweep's trial); "
                                    f"cancel {row.parent_id} instead")  # fmt: skip
            state, attempt = JobState(row.state), row.attempt
            event = None
            if state is JobState.QUEUED:
                cancelled = {
                    "state": JobState.CANCELLED.value,
                    "cancel_requested": True,
                    "finished_at": utcnow(),
                }
                if compare_and_set(session, job_id, state, cancelled, attempt=attempt):
                    event = append_event(session, job_id, attempt, "state", {"state": "cancelled"})
                else:  # claimed between our read and our write: cancel the run instead
                    state = JobState.RUNNING
            if state is JobState.RUNNING and compare_and_set(
                session, job_id, state, {"cancel_requested": True}, where=(Job.cancel_requested.is_(False),)
            ):
                attempt = session.scalar(select(Job.attempt).where(Job.id == job_id)) or attempt
                event = append_event(session, job_id, attempt, "cancel_requested", {})
            session.expire_all()
            record = JobRecord.of(self._visible(session, principal, job_id))
        if event is not None:
            self.bus.publish(event)
            if event.kind == "cancel_requested":
                self.bus.signal("cancel", job_id)
        return record
