"""The API under a real uvicorn server: streams over real sockets, Redis fan-out, and `abs serve` itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from cli.service import token_create
from services.bus import InProcessBus
from services.plane import ControlPlane
from services.redis_bus import RedisBus
from services.testing import REDIS_URL, delete_redis_keys, redis_unreachable_reason, unavailable


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_client_that_disconnects_from_the_stream_leaves_nothing_behind(
    serving, settings, plane, alice, spec_body
):
    assert isinstance(plane.bus, InProcessBus)
    with serving(create_app(settings, plane)) as base, httpx.Client(base_url=base, timeout=10) as client:
        job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
        with client.stream("GET", f"/v1/jobs/{job_id}/stream", headers=alice) as response:
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("id: ")) == "id: 1"
            assert wait_until(lambda: plane.bus.waiting_listeners() == 1)
        assert wait_until(lambda: plane.bus.waiting_listeners() == 0, timeout=5)
        assert client.get("/healthz").status_code == 200


def test_events_fan_out_through_redis_to_a_live_stream(
    serving, migrated_db, settings, plane, alice, spec_body
):
    if reason := redis_unreachable_reason():
        unavailable(reason)
    prefix = f"ab:test:server:{os.getpid()}:"
    redis_plane = ControlPlane.build(settings, db=migrated_db, bus=RedisBus(REDIS_URL, prefix))
    try:
        with (
            serving(create_app(settings, redis_plane)) as base,
            httpx.Client(base_url=base, timeout=20) as client,
        ):
            job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]

            def work() -> None:
                (claim,) = redis_plane.queue.claim("w")
                lease = redis_plane.workers.authenticate(job_id, claim.worker_token)
                for step in range(1, 6):
                    time.sleep(0.05)
                    redis_plane.workers.post_event(lease, "progress", {"step": step})
                redis_plane.workers.finish(lease, "succeeded", result={})

            worker = threading.Thread(target=work)
            with client.stream("GET", f"/v1/jobs/{job_id}/stream", headers=alice) as response:
                worker.start()
                ids = [int(line[4:]) for line in response.iter_lines() if line.startswith("id: ")]
            worker.join()
        assert ids == list(range(1, 9))
    finally:
        redis_plane.bus.close()
        delete_redis_keys(REDIS_URL, prefix)


@pytest.mark.timeout(120)
def test_abs_serve_applies_migrations_and_serves_tokens_made_by_abs_token_create(
    tmp_path: Path, unused_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    for name in [name for name in os.environ if name.startswith("AB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AB_DATA_DIR", str(tmp_path))
    assert token_create("carol") == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("abs_")
    env = dict(os.environ)
    command = [sys.executable, "-m", "cli.main", "serve", "--api-only", "--port", str(unused_port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{unused_port}"
        assert wait_until(lambda: _healthy(base), timeout=60), "abs serve did not come up"
        listed = httpx.get(f"{base}/v1/jobs", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200 and listed.json() == {"items": [], "next_cursor": None}
        assert json.loads(httpx.get(f"{base}/readyz").text)["ready"] is True
    finally:
        server.terminate()
        server.wait(timeout=20)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
