"""The queue: claim order, leases, heartbeats, the reaper, and compare-and-set completion."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from ab_core.specs import JobSpec
from services.db import utcnow
from services.errors import IllegalTransitionError, StaleAttemptError
from services.plane import ControlPlane
from services.records import Principal
from services.states import JobState

ALICE = Principal("alice")


def submit(plane: ControlPlane, spec: JobSpec, **kwargs) -> str:
    return plane.jobs.submit(ALICE, spec, **kwargs)[0].id


def test_claim_takes_highest_priority_first_then_oldest(plane: ControlPlane, spec: JobSpec):
    old_low = submit(plane, spec, priority=0)
    old_high = submit(plane, spec, priority=5)
    new_high = submit(plane, spec, priority=5)
    order = [plane.queue.claim("w")[0].job_id for _ in range(3)]
    assert order == [old_high, new_high, old_low]
    assert plane.queue.claim("w") == []


def test_claim_starts_attempt_one_with_a_lease_and_a_running_event(plane: ControlPlane, spec: JobSpec):
    job_id = submit(plane, spec)
    (claim,) = plane.queue.claim("worker-1", lease_seconds=30)
    job = plane.jobs.get(ALICE, job_id)
    assert (claim.attempt, job.state, job.attempt, job.lease_owner) == (1, JobState.RUNNING, 1, "worker-1")
    assert timedelta(seconds=25) < job.lease_deadline - utcnow() <= timedelta(seconds=30)
    events = plane.jobs.events(ALICE, job_id).items
    assert [(e.seq, e.data["state"]) for e in events] == [(1, "queued"), (2, "running")]


def test_many_concurrent_claimers_never_hold_the_same_job(plane: ControlPlane, spec: JobSpec):
    jobs = {submit(plane, spec) for _ in range(40)}
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claimer(worker: str) -> None:
        start.wait()
        while batch := plane.queue.claim(worker, limit=2):
            with lock:
                claimed.extend((c.job_id, worker) for c in batch)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = [job_id for job_id, _ in claimed]
    assert len(ids) == len(set(ids)) == 40 and set(ids) == jobs
    owners = {job_id: worker for job_id, worker in claimed}
    assert all(plane.jobs.get(ALICE, j).lease_owner == owners[j] for j in jobs)


def test_heartbeat_extends_the_lease_and_reports_a_cancel_request(plane: ControlPlane, spec: JobSpec):
    job_id = submit(plane, spec)
    (claim,) = plane.queue.claim("w", lease_seconds=5)
    reply = plane.queue.heartbeat(job_id, claim.attempt, "w", lease_seconds=100)
    assert reply.lease_deadline - utcnow() > timedelta(seconds=90) and not reply.cancel_requested
    plane.jobs.cancel(ALICE, job_id)
    assert plane.queue.heartbeat(job_id, claim.attempt, "w").cancel_requested


def test_heartbeat_of_another_worker_or_attempt_is_refused(plane: ControlPlane, spec: JobSpec):
    job_id = submit(plane, spec)
    (claim,) = plane.queue.claim("w")
    with pytest.raises(StaleAttemptError):
        plane.queue.heartbeat(job_id, claim.attempt + 1, "w")
    with pytest.raises(StaleAttemptError):
        plane.queue.heartbeat(job_id, claim.attempt, "someone-else")


def test_an_expired_lease_comes_back_as_the_next_attempt(plane: ControlPlane, spec: JobSpec):
    job_id = submit(plane, spec)
    (first,) = plane.queue.claim("lost-worker", lease_seconds=1)
    report = plane.queue.reap_expired(now=utcnow() + timedelta(seconds=2))
    assert report.requeued == [(job_id, 1)]
    assert plane.jobs.get(ALICE, job_id).state is JobState.QUEUED
    (second,) = plane.queue.claim("new-worker")
    assert (second.job_id, second.attempt) == (job_id, first.attempt + 1)
    with pytest.raises(StaleAttemptError, match="attempt 1 is stale"):
        plane.queue.complete(job_id, first.attempt, {"top1": 1.0})
    plane.queue.complete(job_id, second.attempt, {"top1": 0.5})
    assert plane.jobs.get(ALICE, job_id).result == {"top1": 0.5}


def test_the_reaper_leaves_live_leases_alone(plane: ControlPlane, spec: JobSpec):
    submit(plane, spec)
    plane.queue.claim("w", lease_seconds=60)
    report = plane.queue.reap_expired(now=utcnow() + timedelta(seconds=30))
    assert (report.requeued, report.failed, report.cancelled) == ([], [], [])


def test_the_reaper_fails_a_job_after_max_attempts_with_the_reason(plane: ControlPlane, spec: JobSpec):
    job_id = submit(plane, spec, max_attempts=2)
    for attempt in (1, 2):
        (claim,) = plane.queue.claim(f"w{attempt}", lease_seconds=1)
        assert claim.attempt == attempt
        plane.queue.reap_expired(now=utcnow() + timedelta(seconds=2))
    job = plane.jobs.get(ALICE, job_id)
    assert job.state is JobState.FAILED
    assert "lease of attempt 2 (worker w2) expired" in job.error and "after 2 attempts" in job.error
    assert plane.queue.claim("w3") == []


def test_an_expired_lease_with_a_cancel_request_ends_cancelled(plane: ControlPlane, spec: JobSpec):
    job_id = submit(plane, spec)
    plane.queue.claim("w", lease_seconds=1)
    plane.jobs.cancel(ALICE, job_id)
    assert plane.queue.reap_expired(now=utcnow() + timedelta(seconds=2)).cancelled == [(job_id, 1)]
    assert plane.jobs.get(ALICE, job_id).state is JobState.CANCELLED


def test_terminal_states_never_change(plane: ControlPlane, spec: JobSpec):
    job_id = submit(plane, spec)
    (claim,) = plane.queue.claim("w")
    plane.queue.complete(job_id, claim.attempt, {"loss": 0.1})
    for change in (
        lambda: plane.queue.complete(job_id, claim.attempt, {"loss": 9.9}),
        lambda: plane.queue.fail(job_id, claim.attempt, "boom"),
        lambda: plane.queue.mark_cancelled(job_id, claim.attempt),
    ):
        with pytest.raises(IllegalTransitionError, match="succeeded, a terminal state"):
            change()
    assert plane.jobs.cancel(ALICE, job_id).state is JobState.SUCCEEDED
    assert plane.queue.reap_expired(now=utcnow() + timedelta(days=1)).requeued == []
    job = plane.jobs.get(ALICE, job_id)
    assert (job.state, job.result, job.cancel_requested) == (JobState.SUCCEEDED, {"loss": 0.1}, False)


def test_a_retried_infrastructure_failure_queues_again_until_attempts_run_out(
    plane: ControlPlane, spec: JobSpec
):
    job_id = submit(plane, spec, max_attempts=2)
    (claim,) = plane.queue.claim("w")
    assert plane.queue.fail(job_id, claim.attempt, "node lost", retry=True).state is JobState.QUEUED
    (claim,) = plane.queue.claim("w")
    job = plane.queue.fail(job_id, claim.attempt, "node lost again", retry=True)
    assert (job.state, job.attempt, job.error) == (JobState.FAILED, 2, "node lost again")


def test_a_job_that_succeeds_after_a_retry_keeps_no_error_of_the_failed_attempt(
    plane: ControlPlane, spec: JobSpec
):
    job_id = submit(plane, spec)
    (claim,) = plane.queue.claim("w")
    assert plane.queue.fail(job_id, claim.attempt, "node lost", retry=True).error == "node lost"
    (claim,) = plane.queue.claim("w")
    job = plane.queue.complete(job_id, claim.attempt, {"checkpoint": None})
    assert (job.state, job.attempt, job.error) == (JobState.SUCCEEDED, 2, None)
    requeued = [e for e in plane.jobs.events(ALICE, job_id).items if e.data.get("state") == "queued"]
    assert requeued[-1].data["reason"] == "node lost"  # the history keeps it


def test_a_user_failure_is_not_retried(plane: ControlPlane, spec: JobSpec):
    job_id = submit(plane, spec)
    (claim,) = plane.queue.claim("w")
    assert plane.queue.fail(job_id, claim.attempt, "ValueError: bad lr").state is JobState.FAILED


def test_queued_lists_jobs_in_claim_order(plane: ControlPlane, spec: JobSpec):
    low = submit(plane, spec, priority=0)
    high = submit(plane, spec, priority=9)
    assert [job.id for job in plane.queue.queued()] == [high, low]


def test_claiming_named_jobs_takes_only_those_still_queued(plane: ControlPlane, spec: JobSpec):
    first, second, third = (submit(plane, spec) for _ in range(3))
    plane.jobs.cancel(ALICE, second)
    claims = plane.queue.claim("dispatcher", job_ids=[third, second])
    assert [c.job_id for c in claims] == [third]
    assert [job.id for job in plane.queue.queued()] == [first]
