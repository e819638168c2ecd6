"""`python -m workers.entrypoint <job id>`: the driver of one service job's Ray job.

Loads the job over the internal API, re-validates the spec, runs it with `workers.trainer.fit` (progress
posted from the Ray Train controller), then registers the artifacts and posts the result. A user error (an
invalid spec, bad or missing data, a crash in the method) is posted as a final failure with the message
and the traceback's tail. Anything else (a node or worker lost for good) exits non-zero without posting:
the dispatcher sees the Ray job fail and retries the job as a new attempt, which resumes from the last
checkpoint (the Ray Train run is named after the job id).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from ab_core.errors import AbError
from ab_core.specs import JobSpec, parse_spec
from workers.api_client import ApiProgress, WorkerApi

LOG_TAIL_LINES = 40
MAX_WORKER_RESTARTS = int(os.environ.get("AB_MAX_WORKER_RESTARTS", "2"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.entrypoint")
    parser.add_argument("job_id")
    api = WorkerApi.from_env(parser.parse_args(argv).job_id)
    job = api.job()
    api.post_event("log", {"message": f"attempt {job['attempt']} started on {socket.gethostname()}"})
    try:
        spec = parse_spec(job["spec"])
        preflight(spec)
    except AbError as error:
        return fail_for_user(api, error, traceback.format_exc())
    from ray.train import TrainingFailedError

    from workers.trainer import fit

    storage_root = Path(job["storage_dir"]).parent  # the run dir <storage root>/<job id> is the job's dir
    try:
        result = fit(spec, api.job_id, storage_root, ApiProgress(api), MAX_WORKER_RESTARTS)
    except TrainingFailedError as error:
        cause = user_cause(error)
        if cause is None:
            raise  # infrastructure: the dispatcher retries
        return fail_for_user(api, cause[0], cause[1])
    api.finish("succeeded", result=register_outputs(api, spec, result))
    return 0


def preflight(spec: JobSpec) -> None:
    """Fail in seconds, before Ray Train starts workers (and retries them), on data that is not there."""
    from ab_core.data.loader import open_dataset

    if spec.data.dataset in ("image_folder", "mvtec"):  # file listings only; nothing is decoded
        open_dataset(spec.data.model_copy(update={"cache": "none"}), "train", seed=spec.seed)
    weights = spec.backbone.weights
    if weights not in ("none", "imagenet") and not Path(weights).is_dir():
        from ab_core.errors import CheckpointError

        raise CheckpointError(f"backbone.weights {weights!r} is not a checkpoint directory of this project")


def user_cause(error: BaseException) -> tuple[BaseException, str] | None:
    """(the user's exception, its traceback) when every failed worker raised from user code, else None."""
    from ray.train.v2._internal.exceptions import UserExceptionWithTraceback

    failures = list(getattr(error, "worker_failures", {}).values())
    if not failures or not all(isinstance(failure, UserExceptionWithTraceback) for failure in failures):
        return None
    first = failures[0]
    return first._base_exc, str(first)


def fail_for_user(api: WorkerApi, error: BaseException, trace: str) -> int:
    tail = "\n".join(trace.rstrip().splitlines()[-LOG_TAIL_LINES:])
    message = f"{type(error).__name__}: {error}\n\nlog tail:\n{tail}"
    print(message, file=sys.stderr)
    api.finish("failed", error=message[-20_000:])
    return 1


def register_outputs(api: WorkerApi, spec: JobSpec, result: Any) -> dict[str, Any]:
    """Register every file of the final checkpoint (for an evaluation: its results and pictures)."""
    checkpoint = Path(result.checkpoint.path) if result.checkpoint is not None else None
    outcome: dict[str, Any] = {"checkpoint": str(checkpoint) if checkpoint else None}
    if checkpoint is None:
        return outcome | {"metrics": dict(result.metrics or {})}
    for path in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
        api.register_artifact(str(path.relative_to(checkpoint)), artifact_kind(spec, path), str(path))
    results_file = checkpoint / "results.json"
    if spec.kind == "evaluate" and results_file.is_file():
        return outcome | json.loads(results_file.read_text())
    metrics = {k: v for k, v in (result.metrics or {}).items() if k != "worker_pid"}
    return outcome | {"metrics": metrics, "steps": metrics.get("step")}


def artifact_kind(spec: JobSpec, path: Path) -> str:
    if path.suffix in (".png", ".jpg"):
        return "picture"
    if path.suffix == ".json":
        return "metrics"
    return "checkpoint" if spec.kind == "pretrain" else "file"


if __name__ == "__main__":
    sys.exit(main())
