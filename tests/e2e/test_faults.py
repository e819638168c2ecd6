"""Faults on a real local Ray cluster: a killed dispatcher, a Ray job lost meanwhile, a cancel, missing data.

(A Ray Train worker killed mid-run is tests/workers/test_trainer.py's: Ray Train restarts it from the last
checkpoint inside the same attempt.)
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.e2e.conftest import TERMINAL, Service, pretrain_spec, state_events


def test_a_dispatcher_killed_while_jobs_run_loses_none_and_retries_one_whose_ray_job_died_meanwhile(
    service: Service, synth_root: Path
):
    first = service.start_dispatcher()
    kept = service.submit(pretrain_spec(synth_root, steps=6))
    lost = service.submit(pretrain_spec(synth_root, steps=6))
    for job_id in (kept, lost):
        service.wait_started(job_id)

    first.send_signal(signal.SIGKILL)
    first.wait()
    assert service.ray.stop(f"{lost}-a1")  # its driver dies while no dispatcher is watching
    while not service.ray.info(f"{lost}-a1").terminal:
        time.sleep(0.2)
    service.start_dispatcher()

    kept_job, lost_job = service.wait_terminal(kept), service.wait_terminal(lost)
    service.stop_dispatchers()
    assert kept_job["state"] == "succeeded" and kept_job["attempt"] == 1, kept_job["error"]
    assert lost_job["state"] == "succeeded" and lost_job["attempt"] == 2, lost_job["error"]
    assert state_events(service.events(kept)) == [(0, "queued"), (1, "running"), (1, "succeeded")]
    assert state_events(service.events(lost)) == [
        (0, "queued"), (1, "running"), (1, "queued"), (2, "running"), (2, "succeeded")
    ]  # fmt: skip
    requeued = [e for e in service.events(lost) if e["kind"] == "state" and e["data"]["state"] == "queued"]
    assert "ended STOPPED" in requeued[-1]["data"]["reason"]


def test_cancelling_a_running_job_stops_its_ray_job_and_nothing_follows(
    service: Service, dispatcher, synth_root: Path
):
    job_id = service.submit(pretrain_spec(synth_root, steps=500))
    service.wait_started(job_id)
    with service.http as http:
        assert http.post(f"/v1/jobs/{job_id}/cancel").json()["cancel_requested"]
    job = service.wait_terminal(job_id, timeout=60)
    assert job["state"] == "cancelled"
    assert service.ray.info(f"{job_id}-a1").status == "STOPPED"
    last = service.events(job_id)[-1]
    time.sleep(3)
    assert service.events(job_id)[-1] == last
    assert last["kind"] == "state" and last["data"]["state"] == "cancelled"


def test_a_spec_whose_dataset_is_missing_fails_at_once_naming_the_path(
    service: Service, dispatcher, synth_root: Path
):
    missing = synth_root / "no-such-folder"
    job_id = service.submit(pretrain_spec(synth_root, steps=2, root=str(missing)))
    job = service.wait_terminal(job_id)
    assert job["state"] == "failed" and job["attempt"] == 1
    assert str(missing) in job["error"] and "DataError" in job["error"]
    time.sleep(2)
    assert service.job(job_id)["state"] in TERMINAL and service.job(job_id)["attempt"] == 1
