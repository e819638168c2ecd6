"""One sweep trial, run by Ray Tune in its trial actor: a child job that fits a TorchTrainer per stage.

The trial opens its child job (the same one again after a restore), fits the trial spec with Ray Train
(rank 0's reports go to Tune for the scheduler, and to the child job as progress), registers the
checkpoint and posts the child's result. A pipeline trial then evaluates that checkpoint as a child job of
its own and reports the evaluation's metrics to Tune last, so the objective is the evaluation's.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from ray import tune
from ray.train import TrainingFailedError
from ray.tune.integration.ray_train import TuneReportCallback

from ab_core.specs import JobSpec
from ab_core.sweeps import SweepSpec
from workers.api_client import ApiProgress, WorkerApi
from workers.failures import MAX_WORKER_RESTARTS, UserFailure, fail_for_user, is_infrastructure, user_cause
from workers.outputs import objective_metrics_of, register_outputs
from workers.trainer import build_trainer


def run_trial(
    config: dict[str, Any],
    sweep: dict[str, Any],
    sweep_id: str,
    storage_root: str,
    dataset_roots: list[str] | None = None,
) -> None:
    spec = SweepSpec.model_validate(sweep)
    params = config["params"]
    trial_spec = spec.trial_spec(params)
    api = WorkerApi.from_env(sweep_id)
    child = api.open_child(tune.get_context().get_trial_id(), trial_spec.model_dump(mode="json"), params)
    if child["state"] != "running":  # it ended before the sweep's driver was restored: tell Tune again
        tune.report(objective_metrics_of(child["result"] or {}))
        return
    trial_api = api.for_job(child["id"])
    try:
        outcome = fit_stage(trial_spec, trial_api, Path(storage_root), True, dataset_roots)
        if spec.evaluate is not None:
            evaluation = evaluate_stage(
                spec, params, outcome["checkpoint"], trial_api, Path(storage_root), dataset_roots
            )
            outcome["evaluation"] = evaluation
            tune.report({**objective_metrics_of(evaluation), "checkpoint_path": outcome["checkpoint"]})
    except BaseException as error:
        # a stage's failure is posted already; Ray's is not the trial's: with the sweep's driver alive its
        # callback fails the child, and a driver that died restores the trial into the same child
        if not isinstance(error, StageFailedError) and not is_infrastructure(error):
            fail_for_user(trial_api, UserFailure.of(error, traceback.format_exc()))
        raise
    trial_api.finish("succeeded", result=outcome)


class StageFailedError(RuntimeError):
    """A stage failed and its job's failure is posted already."""


def fit_stage(
    spec: JobSpec,
    api: WorkerApi,
    storage_root: Path,
    to_tune: bool,
    dataset_roots: list[str] | None = None,
) -> dict[str, Any]:
    """Fit one stage as the job `api` names; its outputs registered, its result returned (not posted)."""
    callbacks = [TuneReportCallback()] if to_tune else []
    trainer = build_trainer(
        spec, api.job_id, storage_root, ApiProgress(api), MAX_WORKER_RESTARTS, callbacks, dataset_roots
    )
    try:
        result = trainer.fit()
    except TrainingFailedError as error:
        cause = user_cause(error)
        if cause is None:
            raise
        fail_for_user(api, cause)
        raise StageFailedError(f"job {api.job_id} failed: {cause.kind}: {cause.message}") from error
    return register_outputs(api, spec, result)


def evaluate_stage(
    spec: SweepSpec,
    params: dict[str, Any],
    checkpoint: str | None,
    trial_api: WorkerApi,
    storage_root: Path,
    dataset_roots: list[str] | None = None,
) -> dict[str, Any]:
    """The pipeline's evaluation, as a child job of the trial's; returns its result with its job id."""
    if checkpoint is None:
        raise RuntimeError(f"trial job {trial_api.job_id} left no checkpoint to evaluate")
    evaluation = spec.evaluation_spec(params, checkpoint, from_job=trial_api.job_id)
    child = trial_api.open_child("evaluate", evaluation.model_dump(mode="json"))
    api = trial_api.for_job(child["id"])
    if child["state"] == "succeeded":  # evaluated before a restore
        return {**child["result"], "job_id": child["id"]}
    try:
        result = fit_stage(evaluation, api, storage_root, to_tune=False, dataset_roots=dataset_roots)
    except StageFailedError:
        trial_api.finish("failed", error=f"its evaluation job {child['id']} failed; see that job's error")
        raise
    api.finish("succeeded", result=result)
    return {**result, "job_id": child["id"]}
