"""Settings: AB_ environment variables, defaults derived from the data directory, nothing read at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import load_settings


def test_defaults_derive_from_the_data_directory(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'abs.db'}"
    assert settings.runs_dir == tmp_path / "runs" and settings.redis_url is None
    assert settings.dataset_roots() == [(tmp_path / "datasets").resolve()]


def test_environment_variables_with_the_ab_prefix_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AB_REDIS_URL", "redis://example:6379/2")
    monkeypatch.setenv("AB_ALLOWED_DATASET_ROOTS", '["/mnt/mvtec"]')
    monkeypatch.setenv("AB_MAX_ATTEMPTS", "5")
    settings = load_settings()
    assert settings.redis_url == "redis://example:6379/2" and settings.max_attempts == 5
    assert settings.dataset_roots() == [(tmp_path / "datasets").resolve(), Path("/mnt/mvtec").resolve()]


def test_importing_the_service_layers_reads_no_settings_and_connects_nowhere():
    code = "import services.plane, services.burst, services.streaming, api.app; print('ok')"
    env = {
        "AB_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "AB_MAX_ATTEMPTS": "not-a-number",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
