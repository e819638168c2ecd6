"""Session-wide fixtures: one tiny synthetic data set and one local Ray head for the whole test session."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

# Ray reads its auth settings once, when first imported: fix the session head's token before any test does.
os.environ["RAY_AUTH_MODE"] = "token"
RAY_TOKEN = os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic manufacturing data (MVTec layout under mvtec/, classes under classes/), 32 px."""
    from ab_core.data.synth import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, seed=0, size=32, per_category=8)
    return root


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray head for the whole session (2 CPUs, dashboard and Jobs API on, token auth, free ports),
    started as `ray start` in its own process group and stopped at the end."""
    from services.ray_head import RayHead, free_ports

    temp_dir = Path(tempfile.mkdtemp(prefix="abray-"))  # short: Ray's socket paths must fit 107 bytes
    log = tmp_path_factory.mktemp("ray") / "head.log"
    gcs, dashboard = free_ports(2)
    head = RayHead.start(
        log, gcs_port=gcs, dashboard_port=dashboard, num_cpus=2, token=RAY_TOKEN, temp_dir=temp_dir
    )
    yield head
    head.stop()
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster(ray_head):
    """This test process connected, as a Ray driver, to the session's Ray head."""
    import ray

    if not ray.is_initialized():
        ray.init(address=ray_head.gcs_address, log_to_driver=False)
    yield ray
    ray.shutdown()
