"""docker-compose.yml (the production shape) validates and holds what the service needs past one machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from services.testing import unavailable

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    unavailable("neither docker-compose nor `docker compose` is installed (apt-get install docker-compose)")
    raise AssertionError("unreachable")


def test_docker_compose_config_validates():
    env = os.environ | {"RAY_AUTH_TOKEN": "0" * 32}
    done = subprocess.run(
        [*compose_command(), "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_compose_runs_every_part_with_a_health_check():
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "redis", "ray-head", "ray-worker", "api", "dispatcher"}
    assert all("healthcheck" in service for service in services.values())


def test_redis_keeps_events_on_disk_and_never_evicts():
    command = COMPOSE["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_the_ray_worker_reserves_gpus_and_every_ray_node_shares_the_checkpoint_volume():
    services = COMPOSE["services"]
    devices = services["ray-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    for name in ("ray-head", "ray-worker", "api", "dispatcher"):
        assert "shared:/shared" in services[name]["volumes"]
        assert services[name]["environment"]["AB_STORAGE_ROOT"] == "/shared/runs"
    assert "--port=6380" in services["ray-head"]["command"]  # not Redis's 6379


def test_the_gpu_image_builds_on_a_cuda_runtime_with_the_project_installed():
    dockerfile = (ROOT / "Dockerfile.gpu").read_text()
    assert dockerfile.startswith("#") and "FROM nvidia/cuda:" in dockerfile and "runtime" in dockerfile
    assert "pip install ." in dockerfile
