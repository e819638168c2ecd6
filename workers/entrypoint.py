"""`python -m workers.entrypoint <job id>`: the driver of one service job's Ray job.

Loads the job over the internal API, re-validates the spec, fits it with a TorchTrainer from
`workers.trainer` (progress posted from the Ray Train controller), then registers the artifacts and posts
the result. A user error (an invalid spec, bad or missing data, a crash in the method) is posted as a final
failure with the message and the traceback's tail. Anything else (a node or worker lost for good) exits
non-zero without posting: the dispatcher sees the Ray job fail and retries the job as a new attempt, which
resumes from the last checkpoint (the Ray Train run is named after the job id).
A sweep runs `workers.sweep` instead.
"""

from __future__ import annotations

import argparse
import socket
import sys
import traceback
from pathlib import Path

from ab_core.errors import AbError
from ab_core.specs import JobSpec
from ab_core.sweeps import SweepSpec, parse_submitted
from workers.api_client import ApiProgress, WorkerApi
from workers.failures import MAX_WORKER_RESTARTS, fail_for_user, user_cause
from workers.outputs import register_outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.entrypoint")
    parser.add_argument("job_id")
    api = WorkerApi.from_env(parser.parse_args(argv).job_id)
    job = api.job()
    api.post_event("log", {"message": f"attempt {job['attempt']} started on {socket.gethostname()}"})
    try:
        spec = parse_submitted(job["spec"])
        for stage in stages_of(spec):
            preflight(stage)
    except AbError as error:
        return fail_for_user(api, error, traceback.format_exc())
    if isinstance(spec, SweepSpec):
        from workers.sweep import run_sweep

        return run_sweep(api, spec, Path(job["storage_dir"]))
    from ray.train import TrainingFailedError

    from workers.trainer import build_trainer

    storage_root = Path(job["storage_dir"]).parent  # the run dir <storage root>/<job id> is the job's dir
    try:
        result = build_trainer(spec, api.job_id, storage_root, ApiProgress(api), MAX_WORKER_RESTARTS).fit()
    except TrainingFailedError as error:
        cause = user_cause(error)
        if cause is None:
            raise  # infrastructure: the dispatcher retries
        return fail_for_user(api, cause[0], cause[1])
    api.finish("succeeded", result=register_outputs(api, spec, result))
    return 0


def stages_of(spec: JobSpec | SweepSpec) -> list[JobSpec]:
    """The specs whose data and weights must be there: the job, or a sweep's trial and evaluation."""
    if isinstance(spec, JobSpec):
        return [spec]
    return [spec.trial] + ([spec.evaluate] if spec.evaluate is not None else [])


def preflight(spec: JobSpec) -> None:
    """Fail in seconds, before Ray Train starts workers (and retries them), on data that is not there."""
    from ab_core.data.loader import open_dataset

    if spec.data.dataset in ("image_folder", "mvtec"):  # file listings only; nothing is decoded
        open_dataset(spec.data.model_copy(update={"cache": "none"}), "train", seed=spec.seed)
    weights = spec.backbone.weights
    if weights not in ("none", "imagenet") and not Path(weights).is_dir():
        from ab_core.errors import CheckpointError

        raise CheckpointError(f"backbone.weights {weights!r} is not a checkpoint directory of this project")


if __name__ == "__main__":
    sys.exit(main())
