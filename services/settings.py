"""Settings of the control plane, from `AB_*` environment variables, read once by `load_settings()`."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "anomaly-backbone"


class Settings(BaseSettings):
    """Every knob of the service; `AB_DATABASE_URL=...` sets `database_url` and so on.

    Lists are JSON in the environment: `AB_ALLOWED_DATASET_ROOTS='["/data/mvtec", "/mnt/images"]'`.
    """

    model_config = SettingsConfigDict(env_prefix="AB_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="SQLite file, runs and datasets")
    database_url: str = Field(
        "", description="default: sqlite:///<data_dir>/abs.db; or postgresql+psycopg://"
    )
    redis_url: str | None = Field(None, description="redis://host:port/db; none = in-process event bus")
    redis_prefix: str = Field("ab:", description="prefix of every Redis key this service writes")
    storage_root: Path | None = Field(None, description="job outputs and artifacts; default <data_dir>/runs")
    allowed_dataset_roots: list[Path] = Field(
        default_factory=list, description="dataset roots a spec may use besides <data_dir>/datasets"
    )
    # queue
    lease_seconds: float = Field(60.0, gt=0, description="a claim's heartbeat deadline")
    max_attempts: int = Field(3, ge=1, le=100, description="claims of one job before the reaper fails it")
    reaper_interval_seconds: float = Field(5.0, gt=0)
    # limits
    max_body_bytes: int = Field(1_048_576, ge=1024, description="larger requests get 413")
    stream_max_events: int = Field(10_000, ge=10, description="Redis stream length kept per job")
    sse_keepalive_seconds: float = Field(15.0, gt=0, description="ping interval of an idle event stream")
    token_cache_seconds: float = Field(10.0, ge=0, description="how long a verified API token is trusted")
    db_pool_size: int = Field(20, ge=1)
    migrate_on_start: bool = True
    # dispatcher (issue 5): Ray, and how Ray jobs call back
    ray_address: str = Field("http://127.0.0.1:8265", description="the Ray dashboard (Jobs API) URL")
    ray_auth_token: str | None = Field(None, description="RAY_AUTH_TOKEN of the cluster (token auth)")
    ray_gcs_address: str | None = Field(
        None,
        description="host:port of the cluster's GCS, pinned in every Ray job's env so its driver joins this "
        "cluster even when another Ray runs on the machine (default: the one Ray's job supervisor finds)",
    )
    ray_dashboard_url: str | None = Field(
        None, description="the dashboard as users reach it, for job links (default: ray_address)"
    )
    api_url: str = Field("http://127.0.0.1:8000", description="the API URL as Ray jobs reach it")
    dispatcher_id: str = Field(
        default_factory=lambda: f"dispatcher-{socket.gethostname()}",
        description="the lease owner name; keep it stable across restarts so leases are adopted",
    )
    worker_entrypoint: str = Field(
        "python -m workers.entrypoint", description="a Ray job's command, before the id"
    )
    dispatch_poll_seconds: float = Field(1.0, gt=0, description="longest wait for a wake-up between passes")
    reconcile_seconds: float = Field(5.0, gt=0, description="between comparisons of SQL with Ray")
    sweep_seconds: float = Field(60.0, gt=0, description="between sweeps for stray Ray jobs")
    reserve_after_seconds: float = Field(
        300.0, ge=0, description="a job waiting this long reserves the cluster for itself (no backfill)"
    )
    unschedulable_seconds: float = Field(
        600.0, ge=0, description="a job bigger than the whole cluster fails after waiting this long"
    )
    # run tracking (issue 13)
    mlflow_tracking_uri: str | None = Field(
        None, description="log every job as an MLflow run there (sqlite:///..., http://...; the mlflow extra)"
    )

    @model_validator(mode="after")
    def _fill_derived_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'abs.db'}"
        if self.storage_root is None:
            self.storage_root = self.data_dir / "runs"
        return self

    @property
    def dashboard_url(self) -> str:
        """Where users open the Ray dashboard (job links point there)."""
        return (self.ray_dashboard_url or self.ray_address).rstrip("/")

    @property
    def runs_dir(self) -> Path:
        assert self.storage_root is not None  # filled by the validator
        return self.storage_root

    def dataset_roots(self) -> list[Path]:
        """Where a spec's `data.root` may lie: <data_dir>/datasets plus AB_ALLOWED_DATASET_ROOTS, resolved."""
        return [
            root.expanduser().resolve() for root in [self.data_dir / "datasets", *self.allowed_dataset_roots]
        ]


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; keyword overrides win (tests, the CLI's flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
