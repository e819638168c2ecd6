"""`/v1/jobs/{id}/events` (paginated history) and `/v1/jobs/{id}/stream` (Server-Sent Events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from api.deps import INT_COLUMN_MAX, JobIdPath, PlaneDep, PrincipalDep
from api.schemas import MAX_PAGE_SIZE, ErrorRead, EventPage, EventRead
from api.sse import event_stream
from services.streaming import follow

router = APIRouter(
    prefix="/v1/jobs", tags=["events"], responses={401: {"model": ErrorRead}, 404: {"model": ErrorRead}}
)


@router.get("/{job_id}/events")
def list_events(
    job_id: JobIdPath,
    plane: PlaneDep,
    principal: PrincipalDep,
    after: Annotated[int, Query(ge=0, le=INT_COLUMN_MAX, description="return events with seq > after")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
) -> EventPage:
    """The job's history, oldest first."""
    page = plane.jobs.events(principal, job_id, after, limit)
    return EventPage(items=[EventRead.of(event) for event in page.items], next_cursor=page.next_cursor)


@router.get(
    "/{job_id}/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE: `id` is the event seq"}},
)
async def stream_events(
    job_id: JobIdPath,
    plane: PlaneDep,
    principal: PrincipalDep,
    last_event_id: Annotated[int | None, Header(ge=0, le=INT_COLUMN_MAX)] = None,
    after: Annotated[
        int, Query(ge=0, le=INT_COLUMN_MAX, description="like Last-Event-ID, for clients that cannot set it")
    ] = 0,
) -> EventSourceResponse:
    """Live events; ends after the event that makes the job terminal. Reconnect with `Last-Event-ID` to
    resume without gaps or repeats; a comment line `: ping` keeps the connection alive every
    `AB_SSE_KEEPALIVE_SECONDS`."""
    await run_in_threadpool(plane.jobs.get, principal, job_id)  # 404 before the stream starts
    start = last_event_id if last_event_id is not None else after
    return event_stream(follow(plane.jobs, plane.bus, job_id, start), plane.settings.sse_keepalive_seconds)
