"""The Ray job entrypoint's decisions: which failures are the user's (final) and which are Ray's (retried),
and what a progress report looks like to the API."""

from __future__ import annotations

import pytest
from ray.exceptions import ActorDiedError
from ray.train import WorkerGroupError
from ray.train.v2._internal.exceptions import UserExceptionWithTraceback

from ab_core.errors import CheckpointError, DataError
from ab_core.specs import parse_spec
from services.ray_head import free_port
from workers.api_client import ApiProgress, WorkerApi, progress_of
from workers.entrypoint import preflight
from workers.failures import UserCodeError, UserFailure, user_cause


def test_a_failure_raised_by_user_code_on_every_worker_is_the_users_with_its_traceback():
    try:
        raise DataError("/data/x/a.png is not an image")
    except DataError as error:
        raised = UserCodeError.of(error)  # what workers.train_fn raises; Ray 2.60 hands it over unwrapped
    failed = WorkerGroupError("rank 0 failed", {0: raised})
    assert user_cause(failed) == UserFailure("DataError", "/data/x/a.png is not an image", raised.trace)
    assert "test_entrypoint.py" in raised.trace and raised.trace.rstrip().endswith("not an image")


def test_a_user_failure_in_rays_wrapper_is_the_users_too():
    error = DataError("/data/x holds no images")
    failed = WorkerGroupError("rank 0 failed", {0: UserExceptionWithTraceback(error, "Traceback ...")})
    assert user_cause(failed) == UserFailure("DataError", "/data/x holds no images", "Traceback ...")


def test_a_bare_exception_that_did_not_come_through_train_fn_is_not_taken_for_the_users():
    failed = WorkerGroupError("rank 0 failed", {0: RuntimeError("raised outside user code")})
    assert user_cause(failed) is None


def test_a_lost_worker_is_an_infrastructure_failure_even_beside_a_user_looking_one():
    failures = {0: UserCodeError("RuntimeError", "gloo: connection reset", "..."), 1: ActorDiedError()}
    assert user_cause(WorkerGroupError("ranks failed", failures)) is None


def test_preflight_names_a_missing_dataset_or_checkpoint_before_ray_train_starts(synth_root):
    missing = synth_root / "absent"
    spec = {
        "kind": "pretrain",
        "method": {"method": "simclr"},
        "data": {"dataset": "image_folder", "root": str(missing)},
    }
    with pytest.raises(DataError, match=str(missing)):
        preflight(parse_spec(spec))
    spec["data"]["root"] = str(synth_root / "classes")
    spec["backbone"] = {"weights": str(missing)}
    with pytest.raises(CheckpointError, match=str(missing)):
        preflight(parse_spec(spec))


def test_progress_puts_the_step_counters_on_top_and_the_rest_under_metrics():
    report = {"step": 3, "total_steps": 10, "epoch": 0.5, "loss": 1.25, "worker_pid": 42}
    assert progress_of(report) == {"epoch": 0.5, "step": 3, "total_steps": 10, "metrics": {"loss": 1.25}}


def test_a_progress_report_the_api_cannot_take_does_not_stop_training():
    unreachable = WorkerApi(f"http://127.0.0.1:{free_port()}", "job", "token", timeout=2)
    ApiProgress(unreachable)({"step": 1}, None)  # logs a warning, raises nothing
