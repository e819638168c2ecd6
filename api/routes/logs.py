"""`/v1/jobs/{id}/logs`: the driver log of a job's Ray job, fetched from Ray's Jobs API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import JobIdPath, PlaneDep, PrincipalDep
from api.schemas import ErrorRead
from services.errors import NotFoundError
from services.ray_jobs import RayJobs

router = APIRouter(
    prefix="/v1/jobs", tags=["logs"], responses={401: {"model": ErrorRead}, 404: {"model": ErrorRead}}
)


class LogsRead(BaseModel):
    job_id: str
    attempt: int
    submission_id: str = Field(description="the Ray job: `<job id>-a<attempt>`")
    logs: str


@router.get("/{job_id}/logs", responses={503: {"model": ErrorRead, "description": "Ray is unreachable"}})
async def job_logs(
    job_id: JobIdPath,
    plane: PlaneDep,
    principal: PrincipalDep,
    attempt: Annotated[int | None, Query(ge=1, le=100, description="default: the latest")] = None,
) -> LogsRead:
    """The whole log of one attempt's Ray job (driver output: the entrypoint and the workers' lines)."""
    job = await run_in_threadpool(plane.jobs.get, principal, job_id)
    attempt = attempt or job.attempt
    if attempt < 1 or attempt > job.attempt:
        raise NotFoundError(f"job {job_id} has no attempt {attempt}; it has run {job.attempt} time(s)")
    submission_id = f"{job_id}-a{attempt}"
    ray = RayJobs(plane.settings.ray_address, plane.settings.ray_auth_token)
    try:
        logs = await run_in_threadpool(ray.logs, submission_id)
    finally:
        ray.close()
    if logs is None:
        raise NotFoundError(f"Ray no longer knows job {submission_id} (the cluster may have restarted)")
    return LogsRead(job_id=job_id, attempt=attempt, submission_id=submission_id, logs=logs)
