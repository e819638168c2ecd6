"""`ControlPlane`: the database, bus, stores and queue, built once from `Settings` and shared in a process."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import InterfaceError, OperationalError

from services import migrate
from services.bus import EventBus, InProcessBus
from services.db import Database
from services.errors import DatabaseUnavailableError
from services.jobs import JobStore
from services.queue import JobQueue
from services.results import Leaderboard
from services.settings import Settings
from services.tokens import TokenStore
from services.tracking import track_ended_jobs
from services.waiting import ClusterGauge
from services.worker_channel import WorkerChannel

log = logging.getLogger(__name__)


def make_bus(settings: Settings) -> EventBus:
    if settings.redis_url:
        from services.redis_bus import RedisBus

        return RedisBus(settings.redis_url, settings.redis_prefix, settings.stream_max_events)
    return InProcessBus(max_events_per_job=min(settings.stream_max_events, 1000))


@dataclass
class ControlPlane:
    settings: Settings
    db: Database
    bus: EventBus
    jobs: JobStore
    queue: JobQueue
    tokens: TokenStore
    workers: WorkerChannel
    results: Leaderboard
    cluster: ClusterGauge  # Ray's resources, for the wait reason of queued jobs

    @classmethod
    def build(
        cls, settings: Settings, db: Database | None = None, bus: EventBus | None = None
    ) -> ControlPlane:
        """Wire everything; connects to nothing yet (engines and Redis clients connect on first use)."""
        db = db or Database.from_url(settings.database_url, settings.db_pool_size)
        bus = track_ended_jobs(bus or make_bus(settings), db, settings)  # MLflow runs, when configured
        queue = JobQueue(db, bus, settings.lease_seconds)
        return cls(
            settings=settings,
            db=db,
            bus=bus,
            jobs=JobStore(db, bus, settings.dataset_roots(), settings.runs_dir, settings.max_attempts),
            queue=queue,
            tokens=TokenStore(db, settings.token_cache_seconds),
            workers=WorkerChannel(db, bus, queue, settings.runs_dir),
            results=Leaderboard(db),
            cluster=ClusterGauge(settings.ray_address, settings.ray_auth_token),
        )

    def migrate(self) -> None:
        """Apply pending migrations; DatabaseUnavailableError when the database cannot be reached."""
        try:
            migrate.upgrade(self.db.engine)
        except (OperationalError, InterfaceError) as error:
            url = self.db.engine.url.render_as_string(hide_password=True)
            raise DatabaseUnavailableError(f"cannot migrate the database at {url}: {error.orig}") from error

    def close(self) -> None:
        self.bus.close()
        self.db.dispose()
