"""Fixtures of the CLI tests: the API served over a fresh SQLite database, with one user's token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from cli.embedded import serving_in_thread
from services.plane import ControlPlane
from services.ray_head import free_port
from services.records import Principal
from services.settings import load_settings
from services.testing import sample_spec, throwaway_database

ALICE = Principal("alice")


@dataclass
class Served:
    plane: ControlPlane
    url: str
    token: str
    root: Path  # a dataset root the service accepts

    @property
    def flags(self) -> list[str]:
        """`--url ... --token ...` of the CLI."""
        return ["--url", self.url, "--token", self.token]

    def spec(self, **overrides: Any) -> dict[str, Any]:
        return sample_spec(self.root, **overrides)

    def submit(self, **overrides: Any) -> str:
        from ab_core.sweeps import parse_submitted

        job, _ = self.plane.jobs.submit(ALICE, parse_submitted(self.spec(**overrides)))
        return job.id


@pytest.fixture
def serve(tmp_path: Path) -> Callable[..., AbstractContextManager[Served]]:
    """`with serve(**settings) as served:` the API on a free port (settings: e.g. ray_address)."""

    @contextmanager
    def serving(**settings: Any) -> Iterator[Served]:
        with throwaway_database("sqlite", tmp_path) as db:
            url = db.engine.url.render_as_string(hide_password=False)
            options = {"ray_address": f"http://127.0.0.1:{free_port()}"} | settings  # no Ray unless given
            config = load_settings(data_dir=tmp_path, database_url=url, redis_url=None, **options)
            plane = ControlPlane.build(config, db=db)
            root = config.data_dir / "datasets" / "synth"
            root.mkdir(parents=True, exist_ok=True)
            with serving_in_thread(create_app(config, plane), port=free_port()) as base:
                yield Served(plane, base, plane.tokens.create("alice"), root)

    return serving


@pytest.fixture
def served(serve: Callable[..., AbstractContextManager[Served]]) -> Iterator[Served]:
    with serve() as running:
        yield running
