"""FastAPI dependencies: the control plane, the caller's API token, and a worker's job-scoped token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from services.errors import UnauthorizedError
from services.plane import ControlPlane
from services.records import Principal
from services.worker_channel import WorkerLease

bearer = HTTPBearer(auto_error=False, description="an API token from `abs token create`")
worker_bearer = HTTPBearer(
    auto_error=False, scheme_name="JobToken", description="the job-scoped token issued with a claim"
)


async def get_plane(request: Request) -> ControlPlane:
    return request.app.state.plane  # type: ignore[no-any-return]


PlaneDep = Annotated[ControlPlane, Depends(get_plane)]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL bytes
JobIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL, description="a job id")]
INT_COLUMN_MAX = 2**31 - 1  # what an Integer column (artifact ids, event seqs) holds on PostgreSQL
ArtifactIdPath = Annotated[int, Path(ge=1, le=INT_COLUMN_MAX, description="an artifact id")]


async def current_principal(
    plane: PlaneDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """Async so a recently verified token costs no thread hop; a cache miss reads the database in one."""
    if credentials is None:
        raise UnauthorizedError("missing API token: send the header 'Authorization: Bearer <token>'")
    principal = plane.tokens.cached(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(plane.tokens.verify, credentials.credentials)
    return principal


def current_worker(
    plane: PlaneDep,
    job_id: JobIdPath,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(worker_bearer)],
) -> WorkerLease:
    if credentials is None:
        raise UnauthorizedError("missing job token: send the header 'Authorization: Bearer <job token>'")
    return plane.workers.authenticate(job_id, credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
WorkerDep = Annotated[WorkerLease, Depends(current_worker)]
