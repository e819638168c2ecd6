"""The CLI against a service whose Ray is the session's head: `abs logs --follow`, and a queued job too big
for the cluster saying so."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

import cli.client
from cli.main import main
from services.ray_head import RayHead
from services.ray_jobs import RayJobs, RayUnavailableError
from tests.cli.conftest import Served

Serve = Callable[..., AbstractContextManager[Served]]


def on_ray(serve: Serve, ray_head: RayHead) -> AbstractContextManager[Served]:
    return serve(ray_address=ray_head.dashboard_url, ray_auth_token=ray_head.token)


@pytest.mark.timeout(180)
def test_logs_follow_prints_the_log_as_it_grows_until_the_job_ends(
    serve: Serve, ray_head: RayHead, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(cli.client, "LOG_POLL_SECONDS", 0.2)
    with on_ray(serve, ray_head) as served:
        job_id = served.submit()
        (claim,) = served.plane.queue.claim("w", job_ids=[job_id])
        ray = RayJobs(ray_head.dashboard_url, ray_head.token, timeout=60)  # a loaded CI machine is slow
        ray.submit(f"{job_id}-a1", "echo 'first'-line; sleep 3; echo 'second'-line", {})  # not as echoed

        def finish_when_the_driver_ends() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if (info := ray.info(f"{job_id}-a1")) is not None and info.terminal:
                        break
                except RayUnavailableError:  # a slow answer: ask again
                    pass
                time.sleep(0.2)
            lease = served.plane.workers.authenticate(job_id, claim.worker_token)
            served.plane.workers.finish(lease, "succeeded", result={})

        ender = threading.Thread(target=finish_when_the_driver_ends)
        ender.start()
        try:
            assert main(["logs", job_id, "--follow", *served.flags]) == 0
        finally:
            ender.join()
            ray.close()
    out = capsys.readouterr().out
    assert out.count("first-line") == 1 and out.count("second-line") == 1
    assert out.index("first-line") < out.index("second-line")


def test_a_job_bigger_than_the_cluster_says_so_in_status(
    serve: Serve, ray_head: RayHead, capsys: pytest.CaptureFixture[str]
):
    with on_ray(serve, ray_head) as served:
        job_id = served.submit(resources={"workers": 4})
        assert main(["status", job_id, *served.flags]) == 0
    err = capsys.readouterr().err
    assert f"{job_id}: queued: needs 4 CPU, 0 GPU at once but the cluster has 2 CPU, 0 GPU in total" in err
