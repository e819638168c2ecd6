"""Fixtures of the API tests: the app over a migrated database per backend, with tokens for three callers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from services import migrate
from services.db import Database
from services.plane import ControlPlane
from services.settings import Settings, load_settings
from services.testing import (
    postgres_unreachable_reason,
    reset_database,
    sample_spec,
    temporary_database,
    unavailable,
)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    if request.param == "postgresql" and (reason := postgres_unreachable_reason()):
        unavailable(reason)
    with temporary_database(request.param, tmp_path_factory.mktemp("api-db")) as url:
        db = Database.from_url(url, pool_size=10)
        migrate.upgrade(db.engine)
        yield db
        db.dispose()


@pytest.fixture
def settings(migrated_db: Database, tmp_path: Path) -> Settings:
    url = migrated_db.engine.url.render_as_string(hide_password=False)
    return load_settings(data_dir=tmp_path, database_url=url, redis_url=None, max_body_bytes=64 * 1024)


@pytest.fixture
def plane(migrated_db: Database, settings: Settings) -> ControlPlane:
    reset_database(migrated_db)
    return ControlPlane.build(settings, db=migrated_db)


@pytest.fixture
def client(settings: Settings, plane: ControlPlane) -> Iterator[TestClient]:
    with TestClient(create_app(settings, plane)) as test_client:
        yield test_client


@pytest.fixture
def tokens(plane: ControlPlane) -> dict[str, dict[str, str]]:
    """Authorization headers of alice, bob and an admin."""
    made = {"alice": plane.tokens.create("alice"), "bob": plane.tokens.create("bob"),
            "admin": plane.tokens.create("root", admin=True)}  # fmt: skip
    return {name: {"Authorization": f"Bearer {token}"} for name, token in made.items()}


@pytest.fixture
def alice(tokens: dict[str, dict[str, str]]) -> dict[str, str]:
    return tokens["alice"]


@pytest.fixture
def spec_body(settings: Settings) -> dict[str, Any]:
    """A valid POST /v1/jobs body whose dataset lies under the allowed roots."""
    return {"spec": sample_spec(settings.data_dir / "datasets" / "synth")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # type: ignore[no-any-return]


@contextmanager
def _serving(app: Any) -> Iterator[str]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def serving() -> Any:
    """`with serving(app) as base_url:` runs the app under a real uvicorn server in a thread."""
    return _serving


@pytest.fixture
def unused_port() -> int:
    return free_port()
