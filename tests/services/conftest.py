"""Fixtures of the control-plane tests: a migrated database per backend (SQLite, PostgreSQL), Redis."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from ab_core.specs import JobSpec, parse_spec
from services.bus import EventBus, InProcessBus
from services.db import Database
from services.plane import ControlPlane
from services.redis_bus import RedisBus
from services.settings import Settings, load_settings
from services.testing import (
    REDIS_URL,
    delete_redis_keys,
    redis_unreachable_reason,
    reset_database,
    sample_spec,
    throwaway_database,
    unavailable,
)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One freshly created and migrated database per backend for the whole session, dropped at the end."""
    with throwaway_database(request.param, tmp_path_factory.mktemp("db")) as db:
        yield db


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A brand-new database with no tables (for migration tests)."""
    with throwaway_database(request.param, tmp_path, migrated=False, pool_size=2) as db:
        yield db


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if reason := redis_unreachable_reason():
        unavailable(reason)
    yield REDIS_URL


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test session uses; every key under it is deleted at the end."""
    prefix = f"ab:test:{secrets.token_hex(4)}:"
    yield prefix
    delete_redis_keys(redis_url, prefix)


def make_settings(db: Database, data_dir: Path, **overrides: object) -> Settings:
    url = db.engine.url.render_as_string(hide_password=False)
    return load_settings(data_dir=data_dir, database_url=url, redis_url=None, **overrides)


@pytest.fixture
def settings(migrated_db: Database, tmp_path: Path) -> Settings:
    return make_settings(migrated_db, tmp_path)


@pytest.fixture
def plane(migrated_db: Database, settings: Settings) -> Iterator[ControlPlane]:
    """A control plane over an emptied database with the in-process bus."""
    reset_database(migrated_db)
    yield ControlPlane.build(settings, db=migrated_db)


@pytest.fixture
def dataset_root(settings: Settings) -> Path:
    root = settings.data_dir / "datasets" / "synth"
    root.mkdir(parents=True)
    return root


@pytest.fixture
def spec(dataset_root: Path) -> JobSpec:
    """A valid spec whose dataset lies under the allowed roots."""
    return parse_spec(sample_spec(dataset_root))


@pytest.fixture(params=["in-process", "redis"])
def bus(request: pytest.FixtureRequest) -> Iterator[EventBus]:
    """Each event bus in turn; the Redis one under this session's key prefix."""
    if request.param == "in-process":
        yield InProcessBus()
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix") + f"{secrets.token_hex(3)}:"
    redis_bus = RedisBus(url, prefix, max_events_per_job=1000)
    yield redis_bus
    redis_bus.close()
