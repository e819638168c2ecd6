"""The driver of a sweep's Ray job: a Ray Tune `Tuner` whose trials each fit TorchTrainers (Train V2).

Trials are child jobs (`workers.trial`). This driver sizes `max_concurrent_trials` to the cluster, closes
the child of a trial the scheduler stopped or that died, posts the sweep's progress, and at the end posts
the best trial (parameters, metrics, checkpoint, registered as the sweep's `best/` artifacts) and
`trials.png` (the objective against each searched parameter, every trial's curve). A new
attempt of the sweep (its driver died) restores the experiment with `Tuner.restore` instead of starting
over: finished trials stay finished, unfinished ones resume from their last checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ray
from ray import tune

from ab_core.plots.history import Row, metric_row
from ab_core.plots.trials import TRIALS_FILE, TrialRecord, draw_trials
from ab_core.sweeps import SweepSpec
from workers.api_client import WorkerApi, WorkerApiError
from workers.cluster import connect
from workers.outputs import artifact_kind, numbers_of
from workers.search_space import max_concurrent_trials, param_space, scheduler, search_algorithm
from workers.trial import run_trial

EXPERIMENT = "tune"


def run_sweep(api: WorkerApi, spec: SweepSpec, job_dir: Path, dataset_roots: list[str] | None = None) -> int:
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"  # the metric's name is checked at submit
    connect(log_to_driver=False)
    sweep = spec.model_dump(mode="json")
    trainable = tune.with_resources(
        tune.with_parameters(
            run_trial, sweep=sweep, sweep_id=api.job_id, storage_root=str(job_dir.parent),
            dataset_roots=dataset_roots,
        ),  # fmt: skip
        {"cpu": 0, "memory": 1 << 20},  # the trial's driver holds nothing (its Ray Train workers do);
    )  # Tune refuses an empty request
    experiment = job_dir / EXPERIMENT
    if tune.Tuner.can_restore(str(experiment)):
        api.post_event("log", {"message": f"restoring the sweep from {experiment}"})
        tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_unfinished=True)
    else:
        tuner = new_tuner(spec, trainable, api, job_dir)
    grid = tuner.fit()
    return post_outcome(api, spec, grid, job_dir)


def new_tuner(spec: SweepSpec, trainable: Any, api: WorkerApi, job_dir: Path) -> tune.Tuner:
    concurrent = max_concurrent_trials(spec, ray.cluster_resources())
    metric, mode = spec.objective()
    api.post_event("log", {"message": f"{spec.total_trials()} trials, {concurrent} at once, "
                                      f"ranked by {metric} ({mode})"})  # fmt: skip
    return tune.Tuner(
        trainable,
        param_space=param_space(spec),
        tune_config=tune.TuneConfig(
            metric=metric,
            mode=mode,
            num_samples=spec.num_samples,
            scheduler=scheduler(spec),
            search_alg=search_algorithm(spec, concurrent),  # it holds the cap on concurrent trials
        ),
        run_config=tune.RunConfig(
            name=EXPERIMENT,
            storage_path=str(job_dir),
            callbacks=[TrialClosing(api.job_id, spec, spec.total_trials())],
            verbose=0,
        ),
    )


class TrialClosing(tune.Callback):
    """In the driver: ends the child job of a trial the trial itself could not end, posts progress.

    Holds no token (it is pickled with the experiment): each call reads the attempt's token from the env.
    """

    def __init__(self, sweep_id: str, spec: SweepSpec, total: int):
        self.sweep_id, self.spec, self.total = sweep_id, spec, total

    def api(self) -> WorkerApi:
        return WorkerApi.from_env(self.sweep_id)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._progress(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial, error=None)
        self._progress(trials, ended=trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial, error=f"trial {trial.trial_id} failed: {trial.error_file or 'its actor died'}")
        self._progress(trials, ended=trial)

    def _close(self, trial: Any, error: str | None) -> None:
        """A child still running when its trial ended was stopped by the scheduler (or died)."""
        api = self.api()
        if api.job()["cancel_requested"]:
            return  # the sweep is being cancelled: its trials end cancelled with it
        params = trial.config["params"]
        child = api.open_child(trial.trial_id, self.spec.trial_spec(params).model_dump(mode="json"), params)
        if child["state"] != "running":
            return
        metrics = numbers_of(trial.last_result or {})
        try:
            if error is None:
                stopped = {"stopped_early": True, "metrics": metrics, "steps": metrics.get("step")}
                api.for_job(child["id"]).finish("succeeded", result=stopped)
            else:
                api.for_job(child["id"]).finish("failed", error=error)
        except WorkerApiError:  # the trial posted its own end meanwhile
            pass

    def _progress(self, trials: list, ended: Any = None) -> None:
        done = sum(1 for t in trials if t.status in ("TERMINATED", "ERROR") or t is ended)
        running = sum(1 for t in trials if t.status == "RUNNING" and t is not ended)
        data = {"step": done, "total_steps": self.total, "metrics": {"running_trials": running}}
        try:
            self.api().post_event("progress", data)
        except WorkerApiError:
            pass


def post_outcome(api: WorkerApi, spec: SweepSpec, grid: Any, job_dir: Path) -> int:
    """The best finished trial (a trial cut short by the scheduler only when none finished)."""
    metric, mode = spec.objective()
    trials, records = [], []
    for result in grid:
        trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name
        params = (result.config or {}).get("params", {})
        child = api.open_child(trial_id, spec.trial_spec(params).model_dump(mode="json"), params)
        trials.append((child, params, result.metrics or {}))
        records.append(trial_record(child["id"], params, result, metric))
    if records:
        picture = draw_trials(job_dir / TRIALS_FILE, records, metric, mode, spec.name or "")
        api.register_artifact(TRIALS_FILE, "picture", str(picture))
    succeeded = [t for t in trials if t[0]["state"] == "succeeded" and metric in t[2]]
    finished = [t for t in succeeded if not (t[0]["result"] or {}).get("stopped_early")] or succeeded
    counts = {
        "total": len(trials),
        "succeeded": sum(1 for t in trials if t[0]["state"] == "succeeded"),
        "stopped_early": sum(1 for t in succeeded if (t[0]["result"] or {}).get("stopped_early")),
        "failed": sum(1 for t in trials if t[0]["state"] == "failed"),
    }
    if not finished:
        api.finish("failed", error=f"no trial reported {metric}: {counts}")
        return 1
    pick = min if mode == "min" else max
    child, params, metrics = pick(finished, key=lambda t: float(t[2][metric]))
    checkpoint = (child["result"] or {}).get("checkpoint")
    if checkpoint:
        for path in sorted(p for p in Path(checkpoint).rglob("*") if p.is_file()):
            kind = artifact_kind(spec.trial, path)
            api.register_artifact(f"best/{path.relative_to(checkpoint)}", kind, str(path))
    best = {"job_id": child["id"], "params": params, "value": metrics[metric], "metrics": numbers_of(metrics),
            "checkpoint": checkpoint}  # fmt: skip
    api.finish("succeeded", result={"metric": metric, "mode": mode, "best": best, "trials": counts})
    return 0


def trial_record(job_id: str, params: dict[str, Any], result: Any, metric: str) -> TrialRecord:
    """A trial as `trials.png` draws it: its objective and every report Tune kept (`metrics_dataframe`)."""
    value = numbers_of(result.metrics or {}).get(metric)
    label = f"{job_id[-8:]} " + ",".join(f"{key.rsplit('.', 1)[-1]}={val}" for key, val in params.items())
    return TrialRecord(label, params, value, history_of(result))


def history_of(result: Any) -> list[Row]:
    """The trial's reports, oldest first; Tune fills a metric a report lacked with NaN: left out."""
    frame = result.metrics_dataframe
    if frame is None:
        return []
    return [metric_row({k: v for k, v in record.items() if v == v}) for record in frame.to_dict("records")]
