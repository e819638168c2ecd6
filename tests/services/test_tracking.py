"""MLflow runs of jobs, against a real local MLflow store and read back with MLflow's own client: a finished
job's params, metric history, artifacts and tags; a sweep as a parent run over its trials; one run per job;
a tracking URI that cannot be reached, or no mlflow installed, never fails a job."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from ab_core.specs import JobSpec, parse_spec
from ab_core.sweeps import SweepSpec
from services.db import Database
from services.plane import ControlPlane
from services.records import Principal
from services.settings import Settings
from services.states import JobState
from services.testing import reset_database
from services.tracking import EXPERIMENT, MlflowMissingError, TrackedBus, local_store_uri
from services.worker_channel import WorkerLease
from tests.services.conftest import make_settings

ALICE = Principal("alice")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One local MLflow store for the module (each test finds its runs by their job ids)."""
    return local_store_uri(tmp_path_factory.mktemp("mlflow"))


@contextmanager
def tracked_plane(db: Database, data_dir: Path, uri: str) -> Iterator[ControlPlane]:
    reset_database(db)
    plane = ControlPlane.build(make_settings(db, data_dir, mlflow_tracking_uri=uri), db=db)
    yield plane
    plane.bus.close()  # the tracker's thread; the session's database stays open


@pytest.fixture
def plane(migrated_db: Database, tmp_path: Path, store: str) -> Iterator[ControlPlane]:
    with tracked_plane(migrated_db, tmp_path, store) as plane:
        yield plane


@pytest.fixture
def spec(settings: Settings) -> JobSpec:
    root = settings.data_dir / "datasets" / "synth"
    root.mkdir(parents=True, exist_ok=True)
    return parse_spec({"kind": "pretrain", "method": {"method": "simclr", "temperature": 0.2},
                       "data": {"dataset": "image_folder", "root": str(root), "batch_size": 8},
                       "schedule": {"steps": 3}})  # fmt: skip


def flushed(plane: ControlPlane) -> MlflowClient:
    assert isinstance(plane.bus, TrackedBus) and plane.bus.tracker.flush(timeout=120)
    return MlflowClient(tracking_uri=plane.settings.mlflow_tracking_uri)


def runs_of(client: MlflowClient, job_id: str) -> list[Any]:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`ab.job_id` = '{job_id}'")


def claim(plane: ControlPlane, job_id: str) -> tuple[WorkerLease, str]:
    (claimed,) = plane.queue.claim("node-1", job_ids=[job_id])
    return plane.workers.authenticate(job_id, claimed.worker_token), claimed.worker_token


def report(plane: ControlPlane, lease: WorkerLease, losses: dict[int, float]) -> None:
    for step, loss in losses.items():
        data = {"epoch": 0, "step": step, "total_steps": 3, "metrics": {"loss": loss, "lr": 0.1 / step}}
        plane.workers.post_event(lease, "progress", data)


def register(plane: ControlPlane, lease: WorkerLease, names: list[str]) -> str:
    """Files in the job's checkpoint directory, registered as a worker does (names relative to it)."""
    checkpoint = plane.workers.job_dir(lease.job_id) / "checkpoint_000003"
    for name in names:
        (checkpoint / name).parent.mkdir(parents=True, exist_ok=True)
        content = b"\x89PNG picture" if name.endswith(".png") else b"step,loss\n1,4.5\n"
        (checkpoint / name).write_bytes(content)
        plane.workers.register_artifact(lease, name, "file", str(checkpoint / name))
    return str(checkpoint)


def test_a_finished_job_is_a_run_with_its_spec_metric_history_pictures_and_provenance(
    plane: ControlPlane, spec: JobSpec
):
    job, _ = plane.jobs.submit(ALICE, spec)
    lease, _ = claim(plane, job.id)
    report(plane, lease, {1: 5.0, 2: 4.8, 3: 4.5})
    checkpoint = register(plane, lease, ["curves.png", "metrics.csv", "backbone.pt", "carpet/maps.png"])
    result = {"checkpoint": checkpoint, "metrics": {"loss": 4.5, "lr": 0.1 / 3, "step": 3}, "steps": 3,
              "dataset_fingerprint": "fp-synth-1", "code_version": "0.1.0+abc1234"}  # fmt: skip
    plane.workers.finish(lease, "succeeded", result=result)

    client = flushed(plane)
    (run,) = runs_of(client, job.id)
    assert run.info.status == "FINISHED" and run.info.run_name == f"simclr {job.id}"
    params = run.data.params
    assert params["method.temperature"] == "0.2" and params["data.batch_size"] == "8"
    assert params["kind"] == "pretrain" and params["schedule.steps"] == "3"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(point.step, point.value) for point in history] == [(1, 5.0), (2, 4.8), (3, 4.5)]
    assert len(client.get_metric_history(run.info.run_id, "lr")) == 3 and "step" not in run.data.metrics
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"curves.png", "metrics.csv", "carpet"}
    assert [a.path for a in client.list_artifacts(run.info.run_id, "carpet")] == ["carpet/maps.png"]
    tags = run.data.tags
    assert (tags["ab.job_id"], tags["ab.spec_hash"]) == (job.id, job.spec_hash)
    assert (tags["ab.dataset_fingerprint"], tags["ab.code_version"]) == ("fp-synth-1", "0.1.0+abc1234")
    assert (tags["ab.owner"], tags["ab.state"], tags["ab.attempt"]) == ("alice", "succeeded", "1")


def test_logging_a_job_again_fills_its_one_run_without_repeating_points(plane: ControlPlane, spec: JobSpec):
    job, _ = plane.jobs.submit(ALICE, spec)
    lease, _ = claim(plane, job.id)
    report(plane, lease, {1: 5.0, 2: 4.8})
    plane.workers.finish(lease, "succeeded", result={"metrics": {"loss": 4.8, "top_speed": 9.0}})
    client = flushed(plane)
    (first,) = runs_of(client, job.id)

    assert isinstance(plane.bus, TrackedBus)
    assert plane.bus.tracker.log_job(job.id) == first.info.run_id  # a restart logging the same job again
    (again,) = runs_of(client, job.id)
    assert again.info.run_id == first.info.run_id
    assert [point.step for point in client.get_metric_history(again.info.run_id, "loss")] == [1, 2]
    assert [point.value for point in client.get_metric_history(again.info.run_id, "top_speed")] == [9.0]


def test_a_resumed_job_keeps_one_point_per_step_the_latest_attempt_s(plane: ControlPlane, spec: JobSpec):
    job, _ = plane.jobs.submit(ALICE, spec)
    lease, _ = claim(plane, job.id)
    report(plane, lease, {1: 5.0, 2: 4.9})
    plane.queue.fail(job.id, lease.attempt, "node lost", retry=True)  # an infrastructure fault: queued again
    lease, _ = claim(plane, job.id)
    report(plane, lease, {2: 4.7, 3: 4.4})
    plane.workers.finish(lease, "succeeded", result={})

    client = flushed(plane)
    (run,) = runs_of(client, job.id)
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(point.step, point.value) for point in history] == [(1, 5.0), (2, 4.7), (3, 4.4)]
    assert run.data.tags["ab.attempt"] == "2"


def test_a_sweep_is_a_parent_run_with_a_nested_run_per_trial(plane: ControlPlane, spec: JobSpec):
    trial = spec.model_dump(mode="json")
    sweep = SweepSpec.model_validate({"kind": "sweep", "trial": trial, "name": "temperature sweep",
                                      "space": {"method.temperature": {"grid": [0.1, 0.5]}}})  # fmt: skip
    job, _ = plane.jobs.submit(ALICE, sweep)
    lease, token = claim(plane, job.id)
    trials = []
    for key, temperature in (("t0", 0.1), ("t1", 0.5)):
        params = {"method.temperature": temperature}
        child = plane.workers.open_child(lease, key, sweep.trial_spec(params).model_dump(mode="json"), params)
        child_lease = plane.workers.authenticate(child.id, token)
        report(plane, child_lease, {1: 5.0, 2: 4.0 + temperature})
        plane.workers.finish(child_lease, "succeeded", result={"metrics": {"loss": 4.0 + temperature}})
        trials.append(child.id)
    best = {"job_id": trials[0], "params": {"method.temperature": 0.1}, "value": 4.1}
    counts = {"total": 2, "succeeded": 2, "stopped_early": 0, "failed": 0}
    plane.workers.finish(lease, "succeeded", result={"metric": "loss", "mode": "min", "best": best,
                                                     "trials": counts})  # fmt: skip

    client = flushed(plane)
    (parent,) = runs_of(client, job.id)  # made when its first trial ended, filled when the sweep did
    assert parent.info.status == "FINISHED" and parent.info.run_name == "temperature sweep"
    assert parent.data.metrics["best.loss"] == 4.1 and parent.data.metrics["trials.succeeded"] == 2
    assert parent.data.params["space.method.temperature.grid"] == "[0.1, 0.5]"
    nested = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert sorted(run.data.tags["ab.job_id"] for run in nested) == sorted(trials)
    by_name = {run.info.run_name: run for run in nested}
    assert set(by_name) == {"simclr method.temperature=0.1", "simclr method.temperature=0.5"}
    assert by_name["simclr method.temperature=0.5"].data.params["method.temperature"] == "0.5"
    assert by_name["simclr method.temperature=0.5"].data.metrics["loss"] == 4.5


def test_an_evaluation_run_holds_its_mean_and_per_category_metrics(plane: ControlPlane, spec: JobSpec):
    padim = parse_spec({"kind": "evaluate", "method": {"method": "padim"},
                        "data": {"dataset": "mvtec", "root": spec.data.root}})  # fmt: skip
    job, _ = plane.jobs.submit(ALICE, padim)
    lease, _ = claim(plane, job.id)
    carpet = {"step": None, "metrics": {"category": "carpet", "image_auroc": 0.9}}  # a category's report
    plane.workers.post_event(lease, "progress", carpet)
    result = {"mean": {"image_auroc": 0.85}, "seed": 0,
              "categories": {"carpet": {"image_auroc": 0.9, "skipped": []}, "screw": {"image_auroc": 0.8}}}
    plane.workers.finish(lease, "succeeded", result=result)
    (run,) = runs_of(flushed(plane), job.id)
    assert run.data.metrics == {"image_auroc": 0.85, "carpet.image_auroc": 0.9, "screw.image_auroc": 0.8}


def test_a_job_cancelled_in_the_queue_is_a_killed_run(plane: ControlPlane, spec: JobSpec):
    job, _ = plane.jobs.submit(ALICE, spec)
    plane.jobs.cancel(ALICE, job.id)
    (run,) = runs_of(flushed(plane), job.id)
    assert run.info.status == "KILLED" and run.data.tags["ab.state"] == "cancelled"


def test_an_unreachable_tracking_server_is_a_warning_and_the_job_still_succeeds(
    migrated_db: Database, tmp_path: Path, spec: JobSpec, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{free.getsockname()[1]}"
    with tracked_plane(migrated_db, tmp_path, uri) as plane:
        job, _ = plane.jobs.submit(ALICE, spec)
        lease, _ = claim(plane, job.id)
        with caplog.at_level(logging.WARNING, logger="services.tracking"):
            plane.workers.finish(lease, "succeeded", result={"metrics": {"loss": 1.0}})
            assert isinstance(plane.bus, TrackedBus) and plane.bus.tracker.flush(timeout=120)
        assert plane.jobs.get(ALICE, job.id).state is JobState.SUCCEEDED
        assert any(job.id in line and uri in line for line in caplog.messages), caplog.messages


def test_a_tracking_uri_without_mlflow_installed_names_the_extra(
    migrated_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    assert not isinstance(ControlPlane.build(make_settings(migrated_db, tmp_path), db=migrated_db).bus,
                          TrackedBus)  # fmt: skip  (no URI: no tracker)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if the extra were not installed
    settings = make_settings(migrated_db, tmp_path, mlflow_tracking_uri="sqlite:///x.db")
    with pytest.raises(MlflowMissingError, match=r"anomaly-backbone-service\[mlflow\]"):
        ControlPlane.build(settings, db=migrated_db)


def test_abs_serve_mlflow_logs_to_a_local_store_under_the_data_dir_or_the_uri_given(tmp_path: Path):
    from cli.embedded import mlflow_uri
    from cli.main import build_parser

    base = Settings(data_dir=tmp_path, mlflow_tracking_uri="http://tracking:5000")
    flag = [build_parser().parse_args(["serve", *extra]).mlflow for extra in ([], ["--mlflow"])]
    assert mlflow_uri(flag[0], base) == "http://tracking:5000"  # no flag: AB_MLFLOW_TRACKING_URI
    assert mlflow_uri(flag[1], base) == f"sqlite:///{tmp_path.resolve() / 'mlflow' / 'mlflow.db'}"
    given = build_parser().parse_args(["serve", "--mlflow", "sqlite:////srv/runs.db"]).mlflow
    assert mlflow_uri(given, base) == "sqlite:////srv/runs.db"
