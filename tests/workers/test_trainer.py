"""The TorchTrainer glue on a real local Ray cluster: progress, checkpoints, recovery from a killed worker,
and a user's error that ends the run at once."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
import ray
from ray.train import TrainingFailedError, UserCallback

from ab_core.checkpoints import BACKBONE_FILE, read_meta
from ab_core.specs import parse_spec
from tests.faulty_data import folder_with_corrupt_images
from workers.failures import user_cause
from workers.trainer import build_trainer


class ProgressFile:
    """Progress sink that survives the trip to the Ray Train controller: appends JSON lines to a file.

    With `kill_at`, it SIGKILLs the training worker once, right after that step's checkpoint.
    """

    def __init__(self, path: Path, kill_at: int | None = None):
        self.path, self.kill_at = path, kill_at

    def __call__(self, metrics: dict, checkpoint: str | None) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({**metrics, "checkpoint": checkpoint}) + "\n")
        marker = self.path.with_suffix(".killed")
        if metrics.get("step") == self.kill_at and checkpoint and not marker.exists():
            marker.touch()
            os.kill(metrics["worker_pid"], signal.SIGKILL)

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.path.read_text().splitlines()]


class FailuresFile(UserCallback):
    """Counts the worker-group failures the Ray Train controller sees (one line each)."""

    def __init__(self, path: Path):
        self.path = path

    def after_exception(self, run_context, worker_exceptions) -> None:
        with self.path.open("a") as f:
            f.write(f"{sorted(worker_exceptions)}\n")


# the Ray Train controller cannot import this test module: ship its classes by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def spec(synth_root: Path, steps: int, root: Path | None = None):
    return parse_spec(
        {
            "kind": "pretrain",
            "method": {"method": "simclr"},
            "data": {
                "dataset": "image_folder",
                "root": str(root or synth_root / "classes"),
                "resize": 32,
                "crop": 32,
                "batch_size": 4,
            },
            "schedule": {"steps": steps, "checkpoint_every": 2},
        }
    )


def test_a_pretraining_reports_progress_and_persists_its_checkpoint(ray_cluster, synth_root, tmp_path):
    progress = ProgressFile(tmp_path / "progress.jsonl")
    result = build_trainer(spec(synth_root, 2), "job-fit", tmp_path / "storage", progress).fit()
    assert [m["step"] for m in progress.lines()] == [1, 2]
    assert result.checkpoint is not None
    assert Path(result.checkpoint.path, BACKBONE_FILE).is_file()
    assert read_meta(Path(result.checkpoint.path))["step"] == 2


def test_a_killed_worker_restarts_and_resumes_from_its_last_checkpoint(ray_cluster, synth_root, tmp_path):
    progress = ProgressFile(tmp_path / "progress.jsonl", kill_at=2)
    result = build_trainer(spec(synth_root, 4), "job-killed", tmp_path / "storage", progress).fit()
    steps = [m["step"] for m in progress.lines()]
    assert steps[:2] == [1, 2] and steps[-2:] == [3, 4]
    assert len({m["worker_pid"] for m in progress.lines()}) == 2  # a new worker took over
    assert read_meta(Path(result.checkpoint.path))["step"] == 4


def test_a_user_error_in_training_ends_the_run_at_once_with_its_traceback(ray_cluster, synth_root, tmp_path):
    data = folder_with_corrupt_images(synth_root / "classes", tmp_path / "corrupt")
    failures = FailuresFile(tmp_path / "failures.txt")
    trainer = build_trainer(spec(synth_root, 2, root=data), "job-corrupt", tmp_path / "storage",
                            max_failures=2, callbacks=[failures])  # fmt: skip
    with pytest.raises(TrainingFailedError) as raised:
        trainer.fit()
    assert len(failures.path.read_text().splitlines()) == 1  # no restart of the worker group
    cause = user_cause(raised.value)
    assert cause is not None and cause.kind == "DataError"
    assert str(data) in cause.message
    assert "Traceback" in cause.trace and "ab_core" in cause.trace


def test_a_worker_refuses_a_data_root_that_now_resolves_outside_the_roots(ray_cluster, synth_root, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "link").symlink_to(synth_root / "classes")  # outside `allowed`
    trainer = build_trainer(spec(synth_root, 1, root=allowed / "link"), "job-outside", tmp_path / "storage",
                            dataset_roots=[str(allowed)])  # fmt: skip
    with pytest.raises(TrainingFailedError) as raised:
        trainer.fit()
    cause = user_cause(raised.value)
    assert cause is not None and cause.kind == "DataError"
    assert "outside the allowed roots" in cause.message and str(synth_root / "classes") in cause.message
