"""The worker side: tokens bound to one attempt, progress events, artifacts under the storage root."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ab_core.specs import JobSpec
from services.db import utcnow
from services.errors import InvalidArtifactError, InvalidEventError, StaleAttemptError, UnauthorizedError
from services.plane import ControlPlane
from services.records import Principal
from services.states import JobState

ALICE = Principal("alice")


def claimed(plane: ControlPlane, spec: JobSpec):
    job, _ = plane.jobs.submit(ALICE, spec)
    (claim,) = plane.queue.claim("w", lease_seconds=1)
    return job.id, claim


def test_a_worker_token_authenticates_only_its_own_job(plane: ControlPlane, spec: JobSpec):
    job_id, claim = claimed(plane, spec)
    lease = plane.workers.authenticate(job_id, claim.worker_token)
    assert (lease.job_id, lease.attempt, lease.worker_id) == (job_id, 1, "w")
    other, _ = plane.jobs.submit(ALICE, spec)
    with pytest.raises(UnauthorizedError):
        plane.workers.authenticate(other.id, claim.worker_token)
    with pytest.raises(UnauthorizedError):
        plane.workers.authenticate(job_id, "absw_guess")


def test_the_token_of_a_reaped_attempt_stops_working(plane: ControlPlane, spec: JobSpec):
    job_id, first = claimed(plane, spec)
    stale_lease = plane.workers.authenticate(job_id, first.worker_token)
    plane.queue.reap_expired(now=utcnow() + timedelta(seconds=5))
    (second,) = plane.queue.claim("w2")
    with pytest.raises(UnauthorizedError):
        plane.workers.authenticate(job_id, first.worker_token)
    with pytest.raises(StaleAttemptError):  # a lease looked up before the reclaim cannot write either
        plane.workers.post_event(stale_lease, "progress", {"step": 1})
    assert plane.workers.authenticate(job_id, second.worker_token).attempt == 2


def test_progress_events_append_and_become_the_jobs_latest_progress(plane: ControlPlane, spec: JobSpec):
    job_id, claim = claimed(plane, spec)
    lease = plane.workers.authenticate(job_id, claim.worker_token)
    seqs = [
        plane.workers.post_event(lease, "progress", {"step": s, "metrics": {"loss": 1 / s}}) for s in (1, 2)
    ]
    plane.workers.post_event(lease, "log", {"message": "hello"})
    job = plane.jobs.get(ALICE, job_id)
    assert seqs == [3, 4] and job.progress["step"] == 2 and job.progress["metrics"] == {"loss": 0.5}
    assert [e.kind for e in plane.jobs.events(ALICE, job_id).items][-3:] == ["progress", "progress", "log"]


def test_a_worker_may_not_post_state_events(plane: ControlPlane, spec: JobSpec):
    job_id, claim = claimed(plane, spec)
    lease = plane.workers.authenticate(job_id, claim.worker_token)
    with pytest.raises(InvalidEventError, match="'state'"):
        plane.workers.post_event(lease, "state", {"state": "succeeded"})


def test_finishing_through_the_channel_sets_the_result(plane: ControlPlane, spec: JobSpec):
    job_id, claim = claimed(plane, spec)
    lease = plane.workers.authenticate(job_id, claim.worker_token)
    job = plane.workers.finish(lease, "succeeded", result={"image_auroc": 0.93})
    assert job.state is JobState.SUCCEEDED and job.result == {"image_auroc": 0.93}
    with pytest.raises(Exception, match="terminal"):
        plane.workers.post_event(lease, "progress", {"step": 3})


def test_artifacts_register_under_the_storage_root_only(plane: ControlPlane, spec: JobSpec, tmp_path: Path):
    job_id, claim = claimed(plane, spec)
    lease = plane.workers.authenticate(job_id, claim.worker_token)
    job_dir = plane.workers.job_dir(job_id)
    (job_dir / "ckpt").mkdir(parents=True)
    (job_dir / "ckpt" / "backbone.pt").write_bytes(b"x" * 10)
    artifact = plane.workers.register_artifact(lease, "backbone", "checkpoint", "ckpt/backbone.pt")
    assert artifact.size_bytes == 10 and artifact.path == str((job_dir / "ckpt" / "backbone.pt").resolve())
    assert [a.name for a in plane.jobs.artifacts(ALICE, job_id)] == ["backbone"]
    (tmp_path / "secret").write_text("s")
    with pytest.raises(InvalidArtifactError, match="outside the storage root"):
        plane.workers.register_artifact(lease, "secret", "file", str(tmp_path / "secret"))
    with pytest.raises(InvalidArtifactError, match="outside the storage root"):
        plane.workers.register_artifact(lease, "up", "file", "../../secret")
    with pytest.raises(InvalidArtifactError, match="not a file"):
        plane.workers.register_artifact(lease, "dir", "file", "ckpt")


def test_registering_an_artifact_name_again_replaces_it(plane: ControlPlane, spec: JobSpec):
    job_id, claim = claimed(plane, spec)
    lease = plane.workers.authenticate(job_id, claim.worker_token)
    job_dir = plane.workers.job_dir(job_id)
    job_dir.mkdir(parents=True)
    for size in (1, 5):
        (job_dir / f"m{size}.json").write_bytes(b"1" * size)
        plane.workers.register_artifact(lease, "metrics", "metrics", f"m{size}.json")
    (only,) = plane.jobs.artifacts(ALICE, job_id)
    assert only.size_bytes == 5
