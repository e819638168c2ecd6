"""`/v1/internal/jobs/{id}`: what a worker calls with the job-scoped token it got with its claim."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PlaneDep, WorkerDep
from api.schemas import MALFORMED_BODY, ArtifactRead, ErrorRead, JobRead
from api.worker_schemas import (
    ArtifactCreate,
    ChildCreate,
    ChildRead,
    HeartbeatCreate,
    HeartbeatRead,
    ProgressEventCreate,
    WorkerEventAck,
    WorkerEventCreate,
    WorkerJobRead,
    WorkerResultCreate,
)

router = APIRouter(
    prefix="/v1/internal/jobs/{job_id}",
    tags=["internal (workers)"],
    responses={401: {"model": ErrorRead}, 409: {"model": ErrorRead, "description": "a stale attempt"},
               **MALFORMED_BODY},  # fmt: skip
)


@router.get("")
def worker_job(plane: PlaneDep, lease: WorkerDep) -> WorkerJobRead:
    """The spec to run, where to write, where data may lie, and whether the attempt still holds the job."""
    job = plane.workers.job(lease)
    storage_dir = str(plane.workers.job_dir(job.id))
    return WorkerJobRead(
        id=job.id,
        attempt=lease.attempt,
        state=job.state.value,
        spec=job.spec,
        storage_dir=storage_dir,
        dataset_roots=[str(root) for root in plane.settings.dataset_roots()],
        cancel_requested=job.cancel_requested,
    )


@router.post("/events", status_code=201, responses={422: {"model": ErrorRead}})
def post_event(body: WorkerEventCreate, plane: PlaneDep, lease: WorkerDep) -> WorkerEventAck:
    """Append progress (`{epoch, step, total_steps, metrics}`), a log line or a checkpoint note."""
    data = body.data.model_dump() if isinstance(body, ProgressEventCreate) else body.data
    return WorkerEventAck(seq=plane.workers.post_event(lease, body.kind, data))


@router.post("/heartbeat")
def heartbeat(body: HeartbeatCreate, plane: PlaneDep, lease: WorkerDep) -> HeartbeatRead:
    """Extend the lease; the reply says whether the user asked to cancel."""
    reply = plane.workers.heartbeat(lease, body.lease_seconds)
    return HeartbeatRead(lease_deadline=reply.lease_deadline, cancel_requested=reply.cancel_requested)


@router.post("/result")
def post_result(body: WorkerResultCreate, plane: PlaneDep, lease: WorkerDep) -> JobRead:
    """Finish the attempt: succeeded with a result, failed with an error, or cancelled."""
    return JobRead.of(plane.workers.finish(lease, body.state, body.result, body.error))


@router.post("/artifacts", status_code=201, responses={422: {"model": ErrorRead}})
def register_artifact(body: ArtifactCreate, plane: PlaneDep, lease: WorkerDep) -> ArtifactRead:
    """Record a file under the job's storage directory so users can list and download it."""
    return ArtifactRead.of(plane.workers.register_artifact(lease, body.name, body.kind, body.path))


@router.post("/children", responses={422: {"model": ErrorRead}})
def open_child(body: ChildCreate, plane: PlaneDep, lease: WorkerDep) -> ChildRead:
    """Open (or find again) a child job that this job runs itself: a sweep's trial, a trial's evaluation."""
    child = plane.workers.open_child(lease, body.key, body.spec, body.params)
    return ChildRead(id=child.id, state=child.state.value, result=child.result)
