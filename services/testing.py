"""Test and benchmark helpers: throwaway SQLite or PostgreSQL databases, a valid spec, a fake worker."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ab_core import registry
from services import migrate
from services.db import Database
from services.plane import ControlPlane

POSTGRES_ADMIN_URL = os.environ.get(
    "AB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("AB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(reason: str) -> None:
    """A needed service is down: in CI (`CI` set) the test fails with the reason, elsewhere it skips."""
    import pytest

    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def postgres_unreachable_reason(admin_url: str = POSTGRES_ADMIN_URL) -> str | None:
    """None when PostgreSQL answers at `admin_url`, else why not."""
    engine = create_engine(admin_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001  (any failure means: not usable)
        return f"PostgreSQL at {admin_url} is unreachable: {str(error).splitlines()[0]}"
    finally:
        engine.dispose()
    return None


def redis_unreachable_reason(url: str = REDIS_URL) -> str | None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"Redis at {url} is unreachable: {error}"
    finally:
        client.close()
    return None


@contextmanager
def temporary_postgres_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """CREATE DATABASE ab_test_<random>, yield its URL, DROP it (WITH FORCE) afterwards."""
    name = f"ab_test_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def temporary_database(backend: str, directory: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file in `directory`, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'ab_test_{secrets.token_hex(4)}.db'}"
    elif backend == "postgresql":
        with temporary_postgres_database() as url:
            yield url
    else:
        raise ValueError(f"backend {backend!r}; use 'sqlite' or 'postgresql'")


@contextmanager
def throwaway_database(
    backend: str, directory: Path, *, migrated: bool = True, pool_size: int = 10
) -> Iterator[Database]:
    """A fresh database of `backend`, migrated unless asked not to, disposed of at the end.

    PostgreSQL down: the test fails in CI and skips elsewhere (see `unavailable`).
    """
    if backend == "postgresql" and (reason := postgres_unreachable_reason()):
        unavailable(reason)
    with temporary_database(backend, directory) as url:
        db = Database.from_url(url, pool_size=pool_size)
        try:
            if migrated:
                migrate.upgrade(db.engine)
            yield db
        finally:
            db.dispose()


def run_job_in_background(
    plane: ControlPlane, job_id: str, steps: int, pause: float = 0.02
) -> threading.Thread:
    """A fake worker: claim, post `steps` progress events with small pauses, then succeed."""

    def work() -> None:
        (claim,) = plane.queue.claim("w")
        lease = plane.workers.authenticate(job_id, claim.worker_token)
        for step in range(1, steps + 1):
            threading.Event().wait(pause)
            plane.workers.post_event(lease, "progress", {"step": step})
        plane.workers.finish(lease, "succeeded", result={"steps": steps})

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def sample_spec(data_root: Path | str, **overrides: Any) -> dict[str, Any]:
    """A valid raw spec using the first registered method whose parameters all have defaults."""
    for name, entry in registry.entries().items():
        try:
            entry.params.model_validate({"method": name})
        except ValueError:
            continue
        spec = {
            "kind": entry.role,
            "method": {"method": name},
            "data": {"dataset": "image_folder", "root": str(data_root), "resize": 32, "crop": 32},
            "schedule": {"steps": 1},
        }
        return {**spec, **overrides}
    raise LookupError(f"no registered method has all-default parameters: {', '.join(registry.entries())}")


def reset_database(db: Database) -> None:
    """Empty every table (children first), so one migrated database serves many tests."""
    tables = ["job_events", "artifacts", "jobs", "api_tokens"]
    with db.write() as session:
        if db.dialect == "postgresql":
            session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                session.execute(text(f"DELETE FROM {table}"))


def delete_redis_keys(url: str, prefix: str) -> int:
    """Delete every key under `prefix`; returns how many."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        return client.delete(*keys) if keys else 0  # type: ignore[return-value]
    finally:
        client.close()
