"""The whole service on a real local Ray cluster: the session's Ray head, the API in a thread of this process
(SQLite), and the dispatcher as a child process that a test may kill -9 and start again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from cli.embedded import serving_in_thread
from services.plane import ControlPlane
from services.ray_head import RayHead, free_port
from services.ray_jobs import RayJobs
from services.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Service:
    url: str
    token: str
    env: dict[str, str]  # the dispatcher's AB_* settings
    log_dir: Path
    ray: RayJobs
    dispatchers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    def start_dispatcher(self, **settings: str) -> subprocess.Popen[bytes]:
        """`settings`: AB_* values of this dispatcher that differ from the service's (lease_seconds=...)."""
        log = (self.log_dir / f"dispatcher-{len(self.dispatchers)}.log").open("wb")
        env = os.environ | self.env | {f"AB_{key.upper()}": value for key, value in settings.items()}
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "dispatcher"], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.dispatchers.append(process)
        return process

    def stop_dispatchers(self) -> None:
        for process in self.dispatchers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        self.dispatchers.clear()

    def submit(self, spec: dict[str, Any], **body: Any) -> str:
        with self.http as http:
            response = http.post("/v1/jobs", json={"spec": spec, **body})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        with self.http as http:
            return http.get(f"/v1/jobs/{job_id}").raise_for_status().json()  # type: ignore[no-any-return]

    def events(self, job_id: str) -> list[dict[str, Any]]:
        with self.http as http:
            return (
                http.get(f"/v1/jobs/{job_id}/events", params={"limit": 200})
                .raise_for_status()
                .json()["items"]
            )

    def wait(
        self, job_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 240
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if until(job):
                return job
            if time.monotonic() > deadline:
                logs = "\n".join(p.read_text()[-3000:] for p in sorted(self.log_dir.glob("dispatcher-*.log")))
                raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s: {job}\n{logs}")
            time.sleep(0.25)

    def wait_started(self, job_id: str, timeout: float = 240) -> None:
        """Until the attempt's entrypoint runs on Ray (its first event: a log line)."""
        self.wait(job_id, lambda _job: any(e["kind"] == "log" for e in self.events(job_id)), timeout)

    def wait_terminal(self, job_id: str, timeout: float = 240) -> dict[str, Any]:
        return self.wait(job_id, lambda job: job["state"] in TERMINAL, timeout)


@pytest.fixture(scope="session")
def service(
    ray_head: RayHead, synth_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    data_dir = tmp_path_factory.mktemp("service")
    port = free_port()
    settings = {
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'abs.db'}",
        "redis_url": None,
        "allowed_dataset_roots": [synth_root],
        "ray_address": ray_head.dashboard_url,
        "ray_auth_token": ray_head.token,
        "ray_gcs_address": ray_head.gcs_address,
        "api_url": f"http://127.0.0.1:{port}",
        "dispatcher_id": "e2e-dispatcher",
        "lease_seconds": 60.0,  # a restarted dispatcher on a busy machine must be back within it
        "reaper_interval_seconds": 1.0,
        "dispatch_poll_seconds": 0.1,
        "reconcile_seconds": 0.5,
        "sweep_seconds": 2.0,
    }
    env = {f"AB_{key.upper()}": json.dumps([str(v) for v in value]) if isinstance(value, list) else str(value)
           for key, value in settings.items() if value is not None}  # fmt: skip
    plane = ControlPlane.build(load_settings(**settings))
    plane.migrate()
    ray = RayJobs(ray_head.dashboard_url, ray_head.token)
    with serving_in_thread(create_app(plane.settings, plane), port=port) as url:
        service = Service(url, plane.tokens.create("e2e"), env, data_dir, ray)
        yield service
        service.stop_dispatchers()
    ray.close()
    plane.close()


@pytest.fixture
def dispatcher(service: Service) -> Iterator[subprocess.Popen[bytes]]:
    """A running dispatcher for one test (stopped after it)."""
    process = service.start_dispatcher()
    yield process
    service.stop_dispatchers()


def pretrain_spec(synth_root: Path, steps: int, **data: Any) -> dict[str, Any]:
    return {
        "kind": "pretrain",
        "method": {"method": "simclr"},
        "data": {"dataset": "image_folder", "root": str(synth_root / "classes"), "resize": 32, "crop": 32,
                 "batch_size": 4, "cache": "none"} | data,
        "schedule": {"steps": steps, "checkpoint_every": 1},
    }  # fmt: skip


def padim_spec(synth_root: Path) -> dict[str, Any]:
    return {
        "kind": "evaluate",
        "method": {"method": "padim", "n_features": 20},
        "data": {"dataset": "mvtec", "root": str(synth_root / "mvtec"), "categories": ["tile"],
                 "resize": 32, "crop": 32, "batch_size": 4},
    }  # fmt: skip


def state_events(events: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(event["attempt"], event["data"]["state"]) for event in events if event["kind"] == "state"]
