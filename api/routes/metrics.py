"""`/v1/jobs/{id}/metrics`: a job's metric history (its progress reports, as kept in SQL) as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ab_core.plots.history import Row, columns, metric_row, to_csv
from api.deps import JobIdPath, PlaneDep, PrincipalDep
from api.schemas import MAX_PAGE_SIZE, ErrorRead
from services.events import latest_per_step
from services.plane import ControlPlane
from services.records import Principal

router = APIRouter(
    prefix="/v1/jobs", tags=["metrics"], responses={401: {"model": ErrorRead}, 404: {"model": ErrorRead}}
)


class MetricHistoryRead(BaseModel):
    job_id: str
    columns: list[str] = Field(description="`step` first, then every metric any row has")
    rows: list[dict[str, float | int | str]] = Field(
        description="one per progress report, oldest first; where a later attempt reported a step again, "
        "its row replaces the earlier one"
    )


@router.get(
    "/{job_id}/metrics",
    response_model=MetricHistoryRead,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with one column per metric"}},
)
def metric_history(
    job_id: JobIdPath,
    plane: PlaneDep,
    principal: PrincipalDep,
    format: Annotated[
        Literal["json", "csv"] | None, Query(description="default: CSV when Accept names text/csv, else JSON")
    ] = None,
    accept: Annotated[str | None, Header(max_length=1000)] = None,
) -> Any:
    """Every progress report of the job (loss, lr, the method's metrics; an evaluation's per category)."""
    rows = history(plane, principal, job_id)
    if format == "csv" or (format is None and "text/csv" in (accept or "")):
        return Response(to_csv(rows), media_type="text/csv")
    return MetricHistoryRead(job_id=job_id, columns=columns(rows), rows=rows)


def history(plane: ControlPlane, principal: Principal, job_id: str) -> list[Row]:
    """The job's progress events as metric rows, one per step (the latest attempt's), oldest first."""
    progress, after = [], 0
    while True:
        page = plane.jobs.events(principal, job_id, after, MAX_PAGE_SIZE)  # 404 for a job you cannot see
        progress += [event for event in page.items if event.kind == "progress"]
        if page.next_cursor is None:
            break
        after = int(page.next_cursor)
    shape = ("step", "epoch")
    return [metric_row({key: event.data.get(key) for key in shape} | (event.data.get("metrics") or {}))
            for event in latest_per_step(progress)]
