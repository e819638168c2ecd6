"""`create_app(settings)`: the FastAPI app over one control plane, with the reaper running beside it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from api import docs, errors
from api.limits import BodySizeLimit
from api.metrics import Metrics, MetricsMiddleware
from api.routes import artifacts, events, internal, jobs, logs, meta, metrics, results
from api.schemas import ErrorRead
from services.errors import DatabaseUnavailableError
from services.plane import ControlPlane
from services.settings import Settings, load_settings

log = logging.getLogger(__name__)


async def _reaper(plane: ControlPlane, interval: float, migrated: bool) -> None:
    """Every `interval` seconds: apply migrations if start-up could not, then requeue expired leases."""
    while True:
        try:
            if not migrated:
                await run_in_threadpool(plane.migrate)
                migrated = True
            report = await run_in_threadpool(plane.queue.reap_expired)
            if report.requeued or report.failed or report.cancelled:
                log.info(
                    "reaper: requeued %s failed %s cancelled %s",
                    report.requeued,
                    report.failed,
                    report.cancelled,
                )
        except DatabaseUnavailableError as error:
            log.warning("reaper: %s", error)
        except Exception:  # the loop must survive anything one pass does
            log.exception("reaper pass failed")
        await asyncio.sleep(interval)


def create_app(settings: Settings | None = None, plane: ControlPlane | None = None) -> FastAPI:
    """The API app. Settings are read here (never at import); pass `plane` to share one (tests, embedding)."""
    settings = settings or load_settings()
    owns_plane = plane is None
    plane = plane or ControlPlane.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        migrated = not settings.migrate_on_start
        if not migrated:
            try:
                await run_in_threadpool(plane.migrate)
                migrated = True
            except DatabaseUnavailableError as error:  # stay up; requests get 503 until it is back
                log.error("start-up migration failed, will retry: %s", error)
        reaper = asyncio.create_task(_reaper(plane, settings.reaper_interval_seconds, migrated))
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            if owns_plane:
                plane.close()

    app = FastAPIOffline(  # /docs and /redoc from installed files, not a CDN
        title="anomaly-backbone training service",
        version="1",
        summary="Submit pretraining and evaluation jobs, poll them, follow them live, fetch their artifacts.",
        lifespan=lifespan,
        swagger_ui_parameters=docs.SWAGGER_UI_PARAMETERS,
    )
    app.state.plane = plane
    app.state.metrics = Metrics(plane.jobs.count_by_state)
    errors.install(app)
    invalid: dict[int | str, dict[str, Any]] = {
        422: {"model": ErrorRead, "description": "invalid request: each bad field in `problems`"}
    }
    for module in (jobs, events, artifacts, metrics, logs, meta, internal, results):
        app.include_router(module.router, responses=invalid)
    docs.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app
