"""Two `abs serve` on one machine, each with its own ports: each one's jobs run on its own Ray cluster.

Ray's job supervisor finds "the" cluster through `<temp dir>/ray_current_cluster`; with one shared
/tmp/ray, the drivers of the service started first joined the other's cluster and every job failed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.ray_head import default_temp_dir, free_ports
from tests.e2e.conftest import ROOT, TERMINAL, pretrain_spec


@dataclass
class Serve:
    process: subprocess.Popen[bytes]
    output: Path
    url: str
    gcs_port: int

    def token(self, timeout: float = 180) -> str:
        """The token of the banner's `export AB_URL=... AB_TOKEN=...` line, once the service is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output.read_text().splitlines():
                if line.strip().startswith("export AB_URL=") and "AB_TOKEN=" in line:
                    return line.split("AB_TOKEN=")[1].strip()
            assert self.process.poll() is None, self.output.read_text()[-3000:]
            time.sleep(0.5)
        raise AssertionError(f"abs serve not up after {timeout} s:\n{self.output.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C: stops the dispatcher, Ray jobs and Ray
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_serve(data_dir: Path, dataset_root: Path) -> Serve:
    port, gcs, dashboard = free_ports(3)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env |= {"AB_DATA_DIR": str(data_dir), "AB_REDIS_URL": "", "AB_LEASE_SECONDS": "60"}
    output = data_dir / "serve.out"
    data_dir.mkdir(parents=True)
    command = [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--gcs-port", str(gcs),
               "--dashboard-port", str(dashboard), "--num-cpus", "1", "--dataset-root", str(dataset_root)]
    with output.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Serve(process, output, f"http://127.0.0.1:{port}", gcs)


@pytest.fixture
def two_services(tmp_path: Path, synth_root: Path) -> Iterator[list[Serve]]:
    # started together: whichever head starts last, the other's jobs went astray with a shared /tmp/ray
    services = [start_serve(tmp_path / name, synth_root) for name in ("first", "second")]
    try:
        yield services
    finally:
        for serve in services:
            serve.stop()
            shutil.rmtree(default_temp_dir(serve.gcs_port), ignore_errors=True)


def test_two_services_on_one_machine_each_finish_their_own_job(two_services: list[Serve], synth_root: Path):
    clients = [
        httpx.Client(base_url=serve.url, timeout=30, headers={"Authorization": f"Bearer {serve.token()}"})
        for serve in two_services
    ]
    try:
        job_ids = []
        for client in clients:  # both heads are up: each one's supervisor has looked for "the" cluster
            response = client.post("/v1/jobs", json={"spec": pretrain_spec(synth_root, steps=2)})
            assert response.status_code == 201, response.text
            job_ids.append(response.json()["id"])

        def poll() -> list[dict]:
            return [c.get(f"/v1/jobs/{job}").json() for c, job in zip(clients, job_ids, strict=True)]

        deadline = time.monotonic() + 240
        jobs = poll()
        while any(job["state"] not in TERMINAL for job in jobs) and time.monotonic() < deadline:
            time.sleep(0.5)
            jobs = poll()
        for job in jobs:
            assert job["state"] == "succeeded" and job["attempt"] == 1, job["error"]
    finally:
        for client in clients:
            client.close()
