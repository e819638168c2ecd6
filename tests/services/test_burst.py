"""The burst worker: runs queued jobs in this process, reports progress, records failures and cancels."""

from __future__ import annotations

from pathlib import Path

from ab_core.specs import JobSpec
from services.burst import BurstWorker, json_safe, progress_of
from services.plane import ControlPlane
from services.records import Principal
from services.states import JobState

ALICE = Principal("alice")


def fake_run(spec: JobSpec, out_dir: Path, report) -> dict:
    for step in (1, 2):
        report({"step": step, "epoch": 0, "total_steps": 2, "loss": 1.0 / step})
    return {"steps": 2, "final": {"loss": float("nan")}}


def test_burst_runs_every_queued_job_and_stores_results_and_progress(plane: ControlPlane, spec: JobSpec):
    ids = [plane.jobs.submit(ALICE, spec)[0].id for _ in range(2)]
    finished = BurstWorker(plane, fake_run).work()
    assert sorted(job.id for job in finished) == sorted(ids)
    job = plane.jobs.get(ALICE, ids[0])
    assert job.state is JobState.SUCCEEDED and job.result == {"steps": 2, "final": {"loss": "nan"}}
    assert (job.progress["step"], job.progress["total_steps"], job.progress["metrics"]) == (
        2,
        2,
        {"loss": 0.5},
    )


def test_burst_records_an_exception_as_a_failed_job(plane: ControlPlane, spec: JobSpec):
    job, _ = plane.jobs.submit(ALICE, spec)

    def broken(spec: JobSpec, out_dir: Path, report) -> dict:
        raise RuntimeError("CUDA out of memory")

    (done,) = BurstWorker(plane, broken).work()
    assert done.state is JobState.FAILED and done.error == "RuntimeError: CUDA out of memory"


def test_burst_stops_a_job_whose_cancel_was_requested(plane: ControlPlane, spec: JobSpec):
    job, _ = plane.jobs.submit(ALICE, spec)

    def cancelled_midway(spec: JobSpec, out_dir: Path, report) -> dict:
        plane.jobs.cancel(ALICE, job.id)
        report({"step": 1})
        raise AssertionError("report should have stopped the job")

    (done,) = BurstWorker(plane, cancelled_midway).work()
    assert done.state is JobState.CANCELLED


def test_progress_and_results_become_plain_json():
    assert progress_of({"step": 3, "loss": 0.5}) == {"epoch": None, "step": 3, "total_steps": None,
                                                     "metrics": {"loss": 0.5}}  # fmt: skip
    assert json_safe({"a": (1, float("inf")), 2: object.__new__(object).__class__}) == {
        "a": [1, "inf"],
        "2": "<class 'object'>",
    }
