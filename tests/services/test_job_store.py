"""The job store: submission, idempotency, the dataset-root policy, ownership, listing and cancel."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ab_core.specs import JobSpec, parse_spec
from services.errors import IdempotencyConflictError, NotFoundError, SpecRejectedError
from services.plane import ControlPlane
from services.records import Principal
from services.states import JobState
from services.testing import sample_spec

ALICE, BOB, ADMIN = Principal("alice"), Principal("bob"), Principal("root", admin=True)


def test_submit_stores_a_queued_job_with_its_spec_and_hash(plane: ControlPlane, spec: JobSpec):
    job, created = plane.jobs.submit(ALICE, spec, priority=3)
    stored = plane.jobs.get(ALICE, job.id)
    assert created and stored.state is JobState.QUEUED and stored.attempt == 0
    assert (stored.owner, stored.priority, stored.kind) == ("alice", 3, spec.kind)
    assert stored.spec_hash == spec.spec_hash() and parse_spec(stored.spec) == spec
    assert stored.max_attempts == plane.settings.max_attempts


def test_the_same_idempotency_key_and_owner_return_the_first_job(plane: ControlPlane, spec: JobSpec):
    first, created = plane.jobs.submit(ALICE, spec, idempotency_key="k1")
    again, created_again = plane.jobs.submit(ALICE, spec, idempotency_key="k1")
    other_owner, _ = plane.jobs.submit(BOB, spec, idempotency_key="k1")
    assert created and not created_again and again.id == first.id and other_owner.id != first.id


def test_an_idempotency_key_reused_for_another_spec_is_a_conflict(plane: ControlPlane, spec: JobSpec):
    plane.jobs.submit(ALICE, spec, idempotency_key="k1")
    other = spec.model_copy(update={"seed": spec.seed + 1})
    with pytest.raises(IdempotencyConflictError, match="'k1' was used for job"):
        plane.jobs.submit(ALICE, other, idempotency_key="k1")


def test_repeated_idempotency_keys_under_concurrency_create_exactly_one_job(
    plane: ControlPlane, spec: JobSpec
):
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def submitter() -> None:
        start.wait()
        try:
            job, created = plane.jobs.submit(ALICE, spec, idempotency_key="same")
            results.append((job.id, created))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=submitter) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len({job_id for job_id, _ in results}) == 1 and sum(created for _, created in results) == 1
    assert len(plane.jobs.list_jobs(ALICE).items) == 1


def test_a_dataset_outside_the_allowed_roots_is_rejected_naming_both(plane: ControlPlane, tmp_path: Path):
    with pytest.raises(SpecRejectedError) as caught:
        plane.jobs.submit(ALICE, parse_spec(sample_spec("/etc")))
    (problem,) = caught.value.problems
    assert problem.startswith("data.root: '/etc'") and str(plane.settings.data_dir / "datasets") in problem


def test_a_relative_dataset_root_is_rejected(plane: ControlPlane):
    with pytest.raises(SpecRejectedError, match="data.root: 'data/synth' is relative"):
        plane.jobs.submit(ALICE, parse_spec(sample_spec("data/synth")))


def test_a_symlink_escaping_the_allowed_roots_is_rejected(
    plane: ControlPlane, dataset_root: Path, tmp_path: Path
):
    (dataset_root / "escape").symlink_to(tmp_path.parent)
    with pytest.raises(SpecRejectedError, match="outside the allowed roots"):
        plane.jobs.submit(ALICE, parse_spec(sample_spec(dataset_root / "escape")))
    dotdot = f"{dataset_root}/../../../"
    with pytest.raises(SpecRejectedError, match="outside the allowed roots"):
        plane.jobs.submit(ALICE, parse_spec(sample_spec(dotdot)))


def test_extra_allowed_roots_from_settings_are_accepted(plane: ControlPlane, tmp_path: Path):
    elsewhere = tmp_path / "mnt" / "images"
    plane.jobs.dataset_roots.append(elsewhere.resolve())
    job, _ = plane.jobs.submit(ALICE, parse_spec(sample_spec(elsewhere / "bottles")))
    assert job.state is JobState.QUEUED


def test_another_owners_job_is_not_found_but_an_admin_sees_it(plane: ControlPlane, spec: JobSpec):
    job, _ = plane.jobs.submit(ALICE, spec)
    with pytest.raises(NotFoundError, match="visible to owner 'bob'"):
        plane.jobs.get(BOB, job.id)
    with pytest.raises(NotFoundError):
        plane.jobs.cancel(BOB, job.id)
    assert plane.jobs.get(ADMIN, job.id).owner == "alice"
    assert plane.jobs.list_jobs(BOB).items == []
    assert [j.id for j in plane.jobs.list_jobs(ADMIN).items] == [job.id]


def test_listing_pages_newest_first_without_gaps_or_repeats(plane: ControlPlane, spec: JobSpec):
    ids = [plane.jobs.submit(ALICE, spec)[0].id for _ in range(7)]
    seen, cursor = [], None
    while True:
        page = plane.jobs.list_jobs(ALICE, cursor=cursor, limit=3)
        seen += [job.id for job in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids[::-1]


def test_listing_filters_by_state_kind_and_parent(plane: ControlPlane, spec: JobSpec):
    parent, _ = plane.jobs.submit(ALICE, spec)
    child, _ = plane.jobs.submit(ALICE, spec, parent_id=parent.id)
    plane.jobs.cancel(ALICE, child.id)
    assert [j.id for j in plane.jobs.list_jobs(ALICE, parent_id=parent.id).items] == [child.id]
    assert [j.id for j in plane.jobs.list_jobs(ALICE, state=JobState.CANCELLED).items] == [child.id]
    assert len(plane.jobs.list_jobs(ALICE, kind=spec.kind).items) == 2
    assert plane.jobs.list_jobs(ALICE, kind="no-such-kind").items == []


def test_a_parent_of_another_owner_is_not_found(plane: ControlPlane, spec: JobSpec):
    parent, _ = plane.jobs.submit(BOB, spec)
    with pytest.raises(NotFoundError):
        plane.jobs.submit(ALICE, spec, parent_id=parent.id)


def test_cancel_before_claim_means_never_claimed(plane: ControlPlane, spec: JobSpec):
    job, _ = plane.jobs.submit(ALICE, spec)
    cancelled = plane.jobs.cancel(ALICE, job.id)
    assert cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None
    assert plane.queue.claim("w") == []
    assert plane.jobs.cancel(ALICE, job.id) == cancelled  # idempotent


def test_cancel_of_a_running_job_sets_the_flag_and_signals_once(plane: ControlPlane, spec: JobSpec):
    job, _ = plane.jobs.submit(ALICE, spec)
    plane.bus.wait_for_signals(0.01)  # drop the submit's wake-up
    plane.queue.claim("w")
    first = plane.jobs.cancel(ALICE, job.id)
    second = plane.jobs.cancel(ALICE, job.id)
    assert first.state is second.state is JobState.RUNNING and first.cancel_requested
    assert [(s.kind, s.job_id) for s in plane.bus.wait_for_signals(0.01)] == [("cancel", job.id)]
    kinds = [e.kind for e in plane.jobs.events(ALICE, job.id).items]
    assert kinds == ["state", "state", "cancel_requested"]


def test_cancel_racing_claims_never_leaves_a_cancelled_job_running(plane: ControlPlane, spec: JobSpec):
    ids = [plane.jobs.submit(ALICE, spec)[0].id for _ in range(20)]
    claimed: list[str] = []
    claimer = threading.Thread(
        target=lambda: claimed.extend(c.job_id for c in plane.queue.claim("w", limit=20))
    )
    claimer.start()
    for job_id in ids:
        plane.jobs.cancel(ALICE, job_id)
    claimer.join(timeout=60)
    for job_id in ids:
        job = plane.jobs.get(ALICE, job_id)
        if job_id in claimed:
            assert job.state is JobState.RUNNING and job.cancel_requested
        else:
            assert job.state is JobState.CANCELLED
