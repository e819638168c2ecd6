"""`/v1/jobs/{id}/artifacts`: the files a job produced, and their downloads."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.deps import ArtifactIdPath, JobIdPath, PlaneDep, PrincipalDep
from api.schemas import ArtifactRead, ErrorRead
from services.errors import NotFoundError

router = APIRouter(
    prefix="/v1/jobs", tags=["artifacts"], responses={401: {"model": ErrorRead}, 404: {"model": ErrorRead}}
)


@router.get("/{job_id}/artifacts")
def list_artifacts(job_id: JobIdPath, plane: PlaneDep, principal: PrincipalDep) -> list[ArtifactRead]:
    return [ArtifactRead.of(artifact) for artifact in plane.jobs.artifacts(principal, job_id)]


@router.get(
    "/{job_id}/artifacts/{artifact_id}/download",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_artifact(
    job_id: JobIdPath, artifact_id: ArtifactIdPath, plane: PlaneDep, principal: PrincipalDep
) -> FileResponse:
    artifact = plane.jobs.artifact(principal, job_id, artifact_id)
    path = Path(artifact.path)
    root = plane.workers.storage_root
    if root not in path.resolve().parents or not path.is_file():
        raise NotFoundError(f"the file of artifact {artifact.name!r} ({path}) no longer exists under {root}")
    return FileResponse(path, filename=path.name, media_type="application/octet-stream")
