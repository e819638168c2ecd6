"""Session-wide fixtures: one tiny synthetic data set generated once for the whole test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic manufacturing data (MVTec layout under mvtec/, classes under classes/), 32 px."""
    from ab_core.data.synth import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, seed=0, size=32, per_category=8)
    return root


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster for the whole test session (2 CPUs, no dashboard)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
