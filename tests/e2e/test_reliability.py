"""Reliability on a real local Ray cluster: a user's error inside training runs once, a data root swapped
after submit is refused where it is read, and an attempt whose lease expired stops training."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import torch

from tests.e2e.conftest import Service, pretrain_spec, state_events
from tests.faulty_data import folder_with_corrupt_images


def test_weights_that_do_not_load_fail_the_job_once_with_the_users_message_and_traceback(
    service: Service, dispatcher, synth_root: Path
):
    """They pass the submit check and the driver's preflight (a checkpoint directory holding a torch
    file) and fail inside Ray Train, where Ray 2.60 hands the error over unwrapped."""
    weights = synth_root / f"misfit-{uuid.uuid4().hex[:8]}"
    weights.mkdir()
    torch.save({"conv1.weight": torch.zeros(3)}, weights / "backbone.pt")  # the wrong shape for a ResNet
    job_id = service.submit(pretrain_spec(synth_root, steps=2) | {"backbone": {"weights": str(weights)}})
    job = service.wait_terminal(job_id, timeout=120)
    assert job["state"] == "failed" and job["attempt"] == 1, job["error"]
    assert state_events(service.events(job_id)) == [(0, "queued"), (1, "running"), (1, "failed")]
    error = job["error"]
    assert error.startswith("CheckpointError: ") and str(weights) in error.splitlines()[0], error
    assert "without posting a result" not in error
    assert "traceback (tail):" in error and "workers/train_fn.py" in error and "ab_core/models/" in error
    logs = service.ray.logs(f"{job_id}-a1") or ""
    assert logs.count("Error in training function") == 1, logs[-3000:]  # one Ray Train run, no restart
    time.sleep(2)
    assert service.job(job_id)["attempt"] == 1


def test_a_data_root_swapped_outside_the_roots_after_submit_is_refused_by_the_worker(
    service: Service, synth_root: Path, tmp_path: Path
):
    outside = folder_with_corrupt_images(synth_root / "classes", tmp_path / "outside")  # never to be read
    link = synth_root / f"link-{uuid.uuid4().hex[:8]}"
    link.symlink_to(synth_root / "classes")  # inside the allowed root at submit
    job_id = service.submit(pretrain_spec(synth_root, steps=2, root=str(link)))
    link.unlink()
    link.symlink_to(outside)  # swapped before any worker reads it
    service.start_dispatcher()
    try:
        job = service.wait_terminal(job_id, timeout=120)
    finally:
        service.stop_dispatchers()
    assert job["state"] == "failed" and job["attempt"] == 1, job
    first = job["error"].splitlines()[0]
    assert first.startswith("DataError: ") and "outside the allowed roots" in first and str(outside) in first


def test_an_attempt_whose_lease_expired_while_no_dispatcher_watched_stops_training(
    service: Service, synth_root: Path
):
    first = service.start_dispatcher(lease_seconds="3")  # heartbeats every second while it lives
    job_id = service.submit(pretrain_spec(synth_root, steps=500))
    name = f"{job_id}-a1"
    try:
        service.wait_started(job_id)
        first.send_signal(signal.SIGKILL)
        first.wait()
        requeued = service.wait(job_id, lambda job: job["state"] == "queued", timeout=30)
        assert requeued["attempt"] == 1
        deadline = time.monotonic() + 30
        while not service.ray.info(name).terminal:  # no dispatcher runs: the driver stops itself
            assert time.monotonic() < deadline, f"{name} still {service.ray.info(name).status} while queued"
            time.sleep(0.5)
        assert service.ray.info(name).status == "FAILED"
        assert "was queued again: attempt 1's lease expired" in (service.ray.logs(name) or "")
    finally:
        service.ray.stop(name)
        service.stop_dispatchers()
        with service.http as http:
            http.post(f"/v1/jobs/{job_id}/cancel")
    reasons = [e["data"].get("reason", "") for e in service.events(job_id) if e["kind"] == "state"]
    assert any("lease of attempt 1" in reason for reason in reasons)
