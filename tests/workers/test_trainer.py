"""The TorchTrainer glue on a real local Ray cluster: progress, checkpoints, recovery from a killed worker."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import ray

from ab_core.checkpoints import BACKBONE_FILE, read_meta
from ab_core.specs import parse_spec
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


# the Ray Train controller cannot import this test module: ship its classes by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def spec(synth_root: Path, steps: int):
    return parse_spec(
        {
            "kind": "pretrain",
            "method": {"method": "simclr"},
            "data": {
                "dataset": "image_folder",
                "root": str(synth_root / "classes"),
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
