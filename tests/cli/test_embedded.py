"""`abs serve`: a local Ray head, the API and the dispatcher start and print their URLs; Ctrl-C stops all."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.ray_head import free_ports

ROOT = Path(__file__).resolve().parents[2]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_abs_serve_starts_ray_the_api_and_the_dispatcher_and_ctrl_c_stops_them_all(tmp_path: Path):
    api, dashboard, gcs = free_ports(3)
    command = [sys.executable, "-m", "cli.main", "serve", f"--port={api}", f"--dashboard-port={dashboard}",
               f"--gcs-port={gcs}", "--num-cpus=1", f"--dataset-root={tmp_path}"]  # fmt: skip
    env = os.environ | {"AB_DATA_DIR": str(tmp_path / "data")}
    serve = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        printed, deadline = "", time.monotonic() + 180
        while "Ctrl-C stops" not in printed:
            line = serve.stdout.readline()
            assert line and time.monotonic() < deadline, f"abs serve did not come up:\n{printed}"
            printed += line
        assert f"http://127.0.0.1:{dashboard}" in printed
        token = re.search(r"AB_TOKEN=(\S+)", printed)[1]
        assert "to log in: abs dashboard" in printed
        ray_token = (tmp_path / "data" / "ray_auth_token").read_text().strip()  # kept there, mode 0600
        jobs = httpx.get(f"http://127.0.0.1:{api}/v1/jobs", headers={"Authorization": f"Bearer {token}"})
        assert jobs.status_code == 200
        version = httpx.get(
            f"http://127.0.0.1:{dashboard}/api/version", headers={"Authorization": f"Bearer {ray_token}"}
        )
        assert version.status_code == 200
    finally:
        serve.send_signal(signal.SIGINT)
        rest = serve.communicate(timeout=90)[0]
    assert serve.returncode == 0, rest[-3000:]
    assert not port_open(api) and not port_open(dashboard) and not port_open(gcs)
