"""`/v1/jobs`: submit, list, poll and cancel jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from api.deps import NO_NUL, JobIdPath, PlaneDep, PrincipalDep
from api.schemas import MALFORMED_BODY, MAX_PAGE_SIZE, ErrorRead, JobCreate, JobPage, JobRead
from services.errors import ForbiddenError
from services.plane import ControlPlane
from services.records import JobRecord
from services.states import JobState
from services.waiting import explain

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses={401: {"model": ErrorRead}})


def read(plane: ControlPlane, jobs: list[JobRecord]) -> list[JobRead]:
    """The read models, each queued one with why it waits (Ray's resources read only when one is)."""
    queued = any(job.state is JobState.QUEUED for job in jobs)
    waits = explain(plane.db, jobs, plane.cluster.read()) if queued else {}
    return [JobRead.of(job, plane.settings.dashboard_url, waits.get(job.id)) for job in jobs]


@router.post(
    "",
    status_code=201,
    responses={200: {"model": JobRead, "description": "an earlier job with this Idempotency-Key"},
               409: {"model": ErrorRead}, 422: {"model": ErrorRead}, 413: {"model": ErrorRead},
               **MALFORMED_BODY},
)  # fmt: skip
def submit_job(
    body: JobCreate,
    plane: PlaneDep,
    principal: PrincipalDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> JobRead:
    """Queue a job. Repeating the same `Idempotency-Key` returns the first job (200) instead of a new one."""
    job, created = plane.jobs.submit(
        principal, body.spec, priority=body.priority, idempotency_key=idempotency_key,
        parent_id=body.parent_id, max_attempts=body.max_attempts,
    )  # fmt: skip
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobRead.of(job, plane.settings.dashboard_url)  # poll it for why it waits (submits stay cheap)


@router.get("", responses={403: {"model": ErrorRead}})
def list_jobs(
    plane: PlaneDep,
    principal: PrincipalDep,
    state: JobState | None = None,
    kind: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None,
    parent: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="a sweep's id: its trials")
    ] = None,
    parent_id: Annotated[str | None, Query(max_length=64, pattern=NO_NUL, description="as `parent`")] = None,
    owner: Annotated[str | None, Query(max_length=200, pattern=NO_NUL, description="admins only")] = None,
    cursor: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="`next_cursor` of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> JobPage:
    """Your jobs, newest first (an admin sees everyone's, or one `owner`'s); `parent`: a sweep's trials."""
    if owner is not None and owner != principal.owner and not principal.admin:
        raise ForbiddenError(
            f"listing the jobs of owner {owner!r} needs an admin token; you are {principal.owner!r}"
        )
    page = plane.jobs.list_jobs(
        principal, state=state, kind=kind, parent_id=parent or parent_id, owner=owner, cursor=cursor,
        limit=limit,
    )
    return JobPage(
        items=read(plane, page.items),
        next_cursor=page.next_cursor,
    )


@router.get("/{job_id}", responses={404: {"model": ErrorRead}})
def get_job(job_id: JobIdPath, plane: PlaneDep, principal: PrincipalDep) -> JobRead:
    """The endpoint scripts poll: state, attempt, progress, timestamps, error, result, where it runs, and
    for a queued job why it waits."""
    return read(plane, [plane.jobs.get(principal, job_id)])[0]


@router.post("/{job_id}/cancel", responses={404: {"model": ErrorRead}})
def cancel_job(job_id: JobIdPath, plane: PlaneDep, principal: PrincipalDep) -> JobRead:
    """Idempotent: a queued job is cancelled at once and never dispatched; a running one is asked to stop."""
    return JobRead.of(plane.jobs.cancel(principal, job_id), plane.settings.dashboard_url)
