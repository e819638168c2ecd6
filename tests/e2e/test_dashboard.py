"""What the Ray dashboard shows of a service job, read through the dashboard's own REST API (what its Jobs
page and job page read): the job's name and the service's metadata, and one progress line per report."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.e2e.conftest import Service, pretrain_spec


def test_a_dispatched_job_shows_on_the_ray_dashboard_by_name_with_its_metadata_and_progress_lines(
    service: Service, dispatcher, ray_head, synth_root: Path
):
    job_id = service.submit(pretrain_spec(synth_root, steps=3) | {"name": "simclr on tile"})
    job = service.wait_terminal(job_id)
    assert job["state"] == "succeeded", job["error"]

    dashboard = httpx.Client(
        base_url=ray_head.dashboard_url, headers={"Authorization": f"Bearer {ray_head.token}"}, timeout=30
    )
    with dashboard:
        listed = {job["submission_id"]: job for job in dashboard.get("/api/jobs/").raise_for_status().json()}
        logs = dashboard.get(f"/api/jobs/{job_id}-a1/logs").raise_for_status().json()["logs"]
    assert listed[f"{job_id}-a1"]["metadata"] == {
        "job_name": "simclr on tile",  # the Jobs page's Name column
        "ab_job_id": job_id,
        "ab_kind": "pretrain",
        "ab_method": "simclr",
        "ab_owner": "e2e",
        "ab_attempt": "1",
        "ab_job_url": f"{service.url}/v1/jobs/{job_id}",
    }
    lines = re.findall(r"step (\d)/3 \(\d+%\)  epoch \S+  loss (\S+)  lr \S+.*", logs)
    assert [step for step, _ in lines] == ["1", "2", "3"], logs[-3000:]
    assert all(float(loss) > 0 for _, loss in lines)
    assert re.search(r"step 3/3 \(100%\) .*\|  \d+ img/s  ETA 0s", logs), logs[-3000:]
    assert "TrainingReport(" not in logs  # Ray Train's raw report lines are left out: ours replace them
