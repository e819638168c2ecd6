"""A `SweepSpec` in Ray Tune's terms: the parameter space, the search algorithm, the scheduler, and how
many trials the cluster holds at once."""

from __future__ import annotations

import math
from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchAlgorithm, Searcher

from ab_core.specs import JobSpec
from ab_core.sweeps import Choice, Grid, LogUniform, RandInt, SweepSpec, Uniform

NO_END = 10**9  # asha's max_t when a trial's length is given in epochs


def param_space(spec: SweepSpec) -> dict[str, Any]:
    """{"params": {path: Tune domain}}: the trial function reads its sampled values from config["params"]."""
    return {"params": {path: tune_domain(domain, spec.search) for path, domain in spec.space.items()}}


def tune_domain(domain: Any, search: str) -> Any:
    if isinstance(domain, LogUniform):
        return tune.loguniform(*domain.loguniform)
    if isinstance(domain, Uniform):
        return tune.uniform(*domain.uniform)
    if isinstance(domain, RandInt):
        return tune.randint(*domain.randint)
    if isinstance(domain, Choice):
        return tune.grid_search(domain.choice) if search == "grid" else tune.choice(domain.choice)
    assert isinstance(domain, Grid)
    return tune.grid_search(domain.grid)


def search_algorithm(spec: SweepSpec, max_concurrent: int) -> Searcher | SearchAlgorithm:
    """random and grid: Tune's variant generator (grids crossed, the rest sampled); optuna: its TPE
    sampler, in memory. Both seeded by the trial's seed, so a sweep samples the same values again."""
    if spec.search == "optuna":
        from optuna.samplers import TPESampler
        from ray.tune.search.optuna import OptunaSearch

        tpe = TPESampler(seed=spec.trial.seed)
        return ConcurrencyLimiter(OptunaSearch(sampler=tpe), max_concurrent=max_concurrent)
    return BasicVariantGenerator(max_concurrent=max_concurrent, random_state=spec.trial.seed)


def scheduler(spec: SweepSpec) -> TrialScheduler:
    """asha cuts trials at rungs of optimiser steps (the `step` every report carries); it never stops a
    trial that got to its end."""
    if spec.scheduler.name == "fifo":
        return FIFOScheduler()
    settings = spec.scheduler
    return ASHAScheduler(
        time_attr="step",
        grace_period=settings.grace_period,
        reduction_factor=settings.reduction_factor,
        max_t=settings.max_t or spec.trial.schedule.steps or NO_END,
        stop_last_trials=False,  # a trial that reaches max_t ends by itself, posting its checkpoint
    )


def trial_demand(spec: SweepSpec) -> tuple[float, float]:
    """(CPUs, GPUs) one trial holds at once: its largest stage's Ray Train workers."""
    stages: list[JobSpec] = [spec.trial] + ([spec.evaluate] if spec.evaluate is not None else [])
    cpus = max(stage.resources.workers * stage.resources.cpus_per_worker for stage in stages)
    gpus = max(stage.resources.workers * stage.resources.gpus_per_worker for stage in stages)
    return cpus, gpus


def max_concurrent_trials(spec: SweepSpec, cluster: dict[str, float]) -> int:
    """As many trials as the cluster holds side by side, never more than there are trials or the cap."""
    cpus, gpus = trial_demand(spec)
    fits = [math.floor(cluster.get("CPU", 0.0) / cpus + 1e-9)]
    if gpus:
        fits.append(math.floor(cluster.get("GPU", 0.0) / gpus + 1e-9))
    limits = [*fits, spec.total_trials(), spec.max_concurrent_trials or spec.total_trials()]
    return max(1, min(limits))
