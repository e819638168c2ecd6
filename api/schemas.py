"""Request and response bodies of the public API (`*Create` in, `*Read` out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ab_core.sweeps import SubmittedSpec
from services.records import ArtifactRecord, EventRecord, JobRecord
from services.states import JobState
from services.waiting import WaitReason

MAX_PAGE_SIZE = 200


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: SubmittedSpec = Field(description="a pretrain or evaluate job, or a sweep of them (by `kind`)")
    priority: int = Field(
        0, ge=-1000, le=1000, description="higher runs first; equal priorities run oldest first"
    )
    parent_id: str | None = Field(
        None, max_length=36, pattern=r"^[^\x00]*$", description="the sweep or pipeline this job belongs to"
    )
    max_attempts: int | None = Field(
        None, ge=1, le=100, description="claims before giving up (default: server's)"
    )


class ProgressRead(BaseModel):
    epoch: int | float | None = None
    step: int | None = None
    total_steps: int | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description="the latest reported metrics")
    updated_at: datetime | None = None


class LocationRead(BaseModel):
    worker: str | None = Field(None, description="the worker holding the current attempt's lease")
    dashboard_url: str | None = Field(None, description="the Ray dashboard page of the job, once dispatched")


class ResourcesRead(BaseModel):
    cpus: float
    gpus: float


class UpstreamRead(BaseModel):
    field: str = Field(description="the spec field naming it (backbone.from_job, ...)")
    job_id: str
    state: str


class WaitRead(BaseModel):
    """Why a queued job has not started yet."""

    reason: str = Field(description="one line: what holds the job back, and its place in the queue")
    position: int = Field(description="1 = the first queued job the dispatcher considers (by priority, age)")
    queued: int = Field(description="jobs in the queue")
    from_job: UpstreamRead | None = Field(description="the unfinished job it waits for")
    needs: ResourcesRead = Field(description="what its workers hold together")
    cluster_total: ResourcesRead | None = Field(description="the Ray cluster's size; null when Ray is unread")
    cluster_free: ResourcesRead | None

    @classmethod
    def of(cls, wait: WaitReason) -> WaitRead:
        def resources(demand: Any) -> ResourcesRead | None:
            return None if demand is None else ResourcesRead(cpus=demand.cpus, gpus=demand.gpus)

        up = wait.upstream
        return cls(
            reason=wait.summary, position=wait.position, queued=wait.queued,
            from_job=UpstreamRead(field=up.field, job_id=up.job_id, state=up.state) if up else None,
            needs=ResourcesRead(cpus=wait.needs.cpus, gpus=wait.needs.gpus),
            cluster_total=resources(wait.total), cluster_free=resources(wait.free),
        )  # fmt: skip


class JobRead(BaseModel):
    id: str
    kind: str
    state: JobState
    owner: str
    priority: int
    attempt: int = Field(description="0 while never claimed; each claim (and each retry) adds one")
    max_attempts: int
    cancel_requested: bool
    parent_id: str | None
    spec_hash: str
    spec: dict[str, Any]
    params: dict[str, Any] | None = Field(description="a sweep trial's sampled values, by parameter path")
    progress: ProgressRead | None
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    location: LocationRead
    waiting: WaitRead | None = Field(None, description="a queued job: why it has not started; else null")

    @classmethod
    def of(cls, job: JobRecord, dashboard: str | None = None, wait: WaitReason | None = None) -> JobRead:
        """`dashboard`: the Ray dashboard's URL; once dispatched, the job links to its attempt's Ray job.
        `wait`: a queued job's wait reason (services.waiting)."""
        progress = None
        if job.progress is not None:
            known = {key: job.progress.get(key) for key in ("epoch", "step", "total_steps", "updated_at")}
            metrics = job.progress.get("metrics")
            progress = ProgressRead(**known, metrics=metrics if isinstance(metrics, dict) else {})
        running = job.state is JobState.RUNNING
        link = f"{dashboard}/#/jobs/{job.id}-a{job.attempt}" if dashboard and job.attempt else None
        return cls(
            id=job.id, kind=job.kind, state=job.state, owner=job.owner, priority=job.priority,
            attempt=job.attempt, max_attempts=job.max_attempts, cancel_requested=job.cancel_requested,
            parent_id=job.parent_id, spec_hash=job.spec_hash, spec=job.spec, params=job.params,
            progress=progress,
            result=job.result, error=job.error, created_at=job.created_at, updated_at=job.updated_at,
            started_at=job.started_at, finished_at=job.finished_at,
            location=LocationRead(worker=job.lease_owner if running else None, dashboard_url=link),
            waiting=WaitRead.of(wait) if wait is not None else None,
        )  # fmt: skip


class JobPage(BaseModel):
    items: list[JobRead]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class EventRead(BaseModel):
    seq: int = Field(description="1, 2, 3 ... per job; the SSE event id")
    attempt: int
    kind: str = Field(description="state, cancel_requested, progress, log, checkpoint, artifact")
    data: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, event: EventRecord) -> EventRead:
        return cls(
            seq=event.seq,
            attempt=event.attempt,
            kind=event.kind,
            data=event.data,
            created_at=event.created_at,
        )


class EventPage(BaseModel):
    items: list[EventRead]
    next_cursor: str | None = Field(description="pass as `after` for the next page; null on the last page")


class ArtifactRead(BaseModel):
    id: int
    name: str
    kind: str
    attempt: int
    size_bytes: int | None
    created_at: datetime
    download_url: str

    @classmethod
    def of(cls, artifact: ArtifactRecord) -> ArtifactRead:
        return cls(
            id=artifact.id, name=artifact.name, kind=artifact.kind, attempt=artifact.attempt,
            size_bytes=artifact.size_bytes, created_at=artifact.created_at,
            download_url=f"/v1/jobs/{artifact.job_id}/artifacts/{artifact.id}/download",
        )  # fmt: skip


class MethodRead(BaseModel):
    name: str
    role: Literal["pretrain", "evaluate"]
    summary: str
    params_schema: dict[str, Any] = Field(description="JSON Schema of the method's parameters")


class ErrorRead(BaseModel):
    """Every error response: what went wrong, and for a bad request each bad field on its own line."""

    detail: str
    type: str
    problems: list[str] = Field(default_factory=list)


MALFORMED_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorRead, "description": "a body that is not UTF-8 JSON, or nested too deep to parse"}
}
