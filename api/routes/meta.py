"""Health, readiness, the method registry and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from ab_core import registry
from api.deps import PlaneDep, PrincipalDep
from api.schemas import ErrorRead, MethodRead
from services import migrate

router = APIRouter()


@router.get("/healthz", tags=["health"])
def healthz() -> dict[str, str]:
    """The process is up (it says nothing about the database)."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], responses={503: {"description": "a dependency is down"}})
def readyz(plane: PlaneDep) -> JSONResponse:
    """Ready = the database answers and is migrated. Redis, when configured, is reported but does not
    decide: without it live events fall back to SQL (slower, nothing lost)."""
    checks: dict[str, str] = {}
    try:
        plane.db.ping()
        current = migrate.current_revision(plane.db.engine)
        head = migrate.head_revision()
        checks["database"] = "ok" if current == head else f"at migration {current}, expected {head}"
    except Exception as error:  # noqa: BLE001  (readiness reports, never raises)
        checks["database"] = f"unavailable: {str(error).splitlines()[0]}"
    if plane.settings.redis_url:
        try:
            plane.bus.ping()
            checks["redis"] = "ok"
        except Exception as error:  # noqa: BLE001
            checks["redis"] = f"unavailable (live events fall back to SQL): {error}"
    ready = checks["database"] == "ok"
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/v1/methods", tags=["methods"], responses={401: {"model": ErrorRead}})
def list_methods(_principal: PrincipalDep) -> list[MethodRead]:
    """Every registered pretrainer and evaluator, with the JSON Schema of its parameters."""
    return [
        MethodRead(
            name=name, role=entry.role, summary=entry.summary, params_schema=entry.params.model_json_schema()
        )
        for name, entry in registry.entries().items()
    ]


@router.get(
    "/metrics", tags=["health"], response_class=PlainTextResponse, responses={401: {"model": ErrorRead}}
)
async def metrics(request: Request, _principal: PrincipalDep) -> PlainTextResponse:
    """Prometheus text format: request counts and latencies by route, jobs by state."""
    body = await run_in_threadpool(generate_latest, request.app.state.metrics.registry)
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)
