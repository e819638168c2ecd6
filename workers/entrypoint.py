"""`python -m workers.entrypoint <job id>`: the driver of one service job's Ray job.

Loads the job over the internal API, re-validates the spec, checks its data root against the service's
roots again, joins the cluster the dispatcher pinned, fits it with a TorchTrainer from `workers.trainer`
(progress posted from the Ray Train controller), then registers the artifacts and posts the result. A user
error (an invalid spec, bad, missing or out-of-bounds data, unloadable weights, a crash in the method) runs
once and is posted as the final failure with the message and the traceback's tail. Anything else (a node
or worker lost for good) exits non-zero without posting: the dispatcher sees the Ray job fail and retries
the job as a new attempt, which resumes from the last checkpoint (the Ray Train run is named after the job
id). While it runs, a `LeaseWatch` exits the driver once its attempt no longer holds the job.
A sweep runs `workers.sweep` instead.
"""

from __future__ import annotations

import argparse
import socket
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from ab_core.errors import AbError
from ab_core.specs import JobSpec
from ab_core.sweeps import SweepSpec, parse_submitted
from workers.api_client import ApiProgress, WorkerApi
from workers.cluster import connect
from workers.confinement import check_data_root
from workers.failures import MAX_WORKER_RESTARTS, UserFailure, fail_for_user, user_cause
from workers.lease_watch import LeaseWatch
from workers.outputs import register_outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.entrypoint")
    parser.add_argument("job_id")
    api = WorkerApi.from_env(parser.parse_args(argv).job_id)
    job = api.job()
    LeaseWatch.start_from_env(api, job["attempt"])
    api.post_event("log", {"message": f"attempt {job['attempt']} started on {socket.gethostname()}"})
    roots: list[str] = job["dataset_roots"]
    try:
        spec = parse_submitted(job["spec"])
        for field, stage in stages_of(spec):
            preflight(stage, roots, field)
    except AbError as error:
        return fail_for_user(api, UserFailure.of(error, traceback.format_exc()))
    if isinstance(spec, SweepSpec):
        from workers.sweep import run_sweep

        return run_sweep(api, spec, Path(job["storage_dir"]), roots)
    from ray.train import TrainingFailedError

    from workers.trainer import build_trainer

    connect()
    storage_root = Path(job["storage_dir"]).parent  # the run dir <storage root>/<job id> is the job's dir
    trainer = build_trainer(
        spec, api.job_id, storage_root, ApiProgress(api), MAX_WORKER_RESTARTS, dataset_roots=roots
    )
    try:
        result = trainer.fit()
    except TrainingFailedError as error:
        cause = user_cause(error)
        if cause is None:
            raise  # infrastructure: the dispatcher retries
        return fail_for_user(api, cause)
    api.finish("succeeded", result=register_outputs(api, spec, result))
    return 0


def stages_of(spec: JobSpec | SweepSpec) -> list[tuple[str, JobSpec]]:
    """(field prefix, spec) of each stage whose data and weights must be there: the job, or a sweep's
    trial and evaluation."""
    if isinstance(spec, JobSpec):
        return [("", spec)]
    return [("trial.", spec.trial)] + ([("evaluate.", spec.evaluate)] if spec.evaluate is not None else [])


def preflight(spec: JobSpec, dataset_roots: Sequence[str] | None = None, field: str = "") -> None:
    """Fail in seconds, before Ray Train starts workers, on data that is not there or lies outside the
    roots now, or weights that are no checkpoint directory."""
    from ab_core.data.check import check_before_job

    check_data_root(spec, dataset_roots, f"{field}data")
    check_before_job(spec.data, spec.seed, evaluate=spec.kind == "evaluate")  # listings and file headers
    weights = spec.backbone.weights
    if weights not in ("none", "imagenet") and not Path(weights).is_dir():
        from ab_core.errors import CheckpointError

        problem = f"{field}backbone.weights {weights!r} is not a checkpoint directory of this project"
        raise CheckpointError(problem)


if __name__ == "__main__":
    sys.exit(main())
