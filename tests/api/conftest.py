"""Fixtures of the API tests: the app over a migrated database per backend, with tokens for three callers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from cli.embedded import serving_in_thread
from services.db import Database
from services.plane import ControlPlane
from services.ray_head import free_port
from services.settings import Settings, load_settings
from services.testing import reset_database, sample_spec, throwaway_database


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    with throwaway_database(request.param, tmp_path_factory.mktemp("api-db")) as db:
        yield db


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


@pytest.fixture
def serving() -> Any:
    """`with serving(app) as base_url:` runs the app under a real uvicorn server in a thread."""
    return lambda app: serving_in_thread(app, port=free_port())


@pytest.fixture
def unused_port() -> int:
    return free_port()
