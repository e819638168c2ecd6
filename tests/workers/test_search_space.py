"""A sweep in Ray Tune's terms: domains, scheduler, and how many trials the cluster holds at once."""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search.sample import Categorical, Float, Integer

from ab_core.sweeps import SweepSpec, parse_submitted
from workers.search_space import max_concurrent_trials, param_space, scheduler

TRIAL = {"kind": "pretrain", "method": {"method": "simclr"}, "schedule": {"steps": 8},
         "data": {"dataset": "image_folder", "root": "/d"},
         "resources": {"workers": 2, "cpus_per_worker": 2}}  # fmt: skip


def sweep(**fields: Any) -> SweepSpec:
    raw = {"kind": "sweep", "trial": TRIAL, "space": {"method.temperature": {"grid": [0.1, 0.5, 1.0]}}}
    spec = parse_submitted(raw | fields)
    assert isinstance(spec, SweepSpec)
    return spec


def test_each_domain_becomes_its_tune_counterpart():
    space = {"method.temperature": {"loguniform": [0.05, 1.0]}, "optim.lr": {"uniform": [1e-4, 1e-2]},
             "seed": {"randint": [0, 10]}, "method.out_dim": {"choice": [64, 128]},
             "method.hidden_dim": {"grid": [256, 512]}}  # fmt: skip
    params = param_space(sweep(space=space))["params"]
    assert isinstance(params["method.temperature"], Float) and params["method.temperature"].lower == 0.05
    assert isinstance(params["optim.lr"], Float) and isinstance(params["seed"], Integer)
    assert isinstance(params["method.out_dim"], Categorical)
    assert params["method.hidden_dim"] == {"grid_search": [256, 512]}
    grid = param_space(sweep(space={"method.out_dim": {"choice": [64, 128]}}, search="grid"))["params"]
    assert grid["method.out_dim"] == {"grid_search": [64, 128]}


def test_concurrency_is_what_the_cluster_holds_capped_by_trials_and_the_user():
    spec = sweep()  # 3 trials of 2 workers x 2 CPUs
    assert max_concurrent_trials(spec, {"CPU": 16.0}) == 3
    assert max_concurrent_trials(spec, {"CPU": 9.0}) == 2
    assert max_concurrent_trials(spec, {"CPU": 2.0}) == 1  # too small: one at a time, never zero
    assert max_concurrent_trials(sweep(max_concurrent_trials=1), {"CPU": 16.0}) == 1
    gpu = sweep(trial=TRIAL | {"resources": {"workers": 2, "gpus_per_worker": 1}})
    assert max_concurrent_trials(gpu, {"CPU": 64.0, "GPU": 4.0}) == 2


def test_asha_cuts_on_optimiser_steps_up_to_the_trials_length():
    assert isinstance(scheduler(sweep()), FIFOScheduler)
    asha = scheduler(sweep(scheduler={"name": "asha", "grace_period": 2, "reduction_factor": 3}))
    assert isinstance(asha, ASHAScheduler)
    assert (asha._time_attr, asha._max_t, asha._reduction_factor) == ("step", 8, 3)


def test_optuna_suggests_seeded_values_inside_the_space_from_what_trials_scored(ray_cluster):
    from ray import tune

    from workers.search_space import search_algorithm

    space = {"method.temperature": {"loguniform": [0.05, 1.0]}, "method.out_dim": {"choice": [64, 128]}}
    spec = sweep(space=space, search="optuna", num_samples=6)

    def objective(config: dict[str, Any]) -> None:
        tune.report({"loss": abs(config["params"]["method.temperature"] - 0.3)})

    tuner = tune.Tuner(
        objective,
        param_space=param_space(spec),
        tune_config=tune.TuneConfig(metric="loss", mode="min", num_samples=6,
                                    search_alg=search_algorithm(spec, max_concurrent=2)),  # fmt: skip
        run_config=tune.RunConfig(verbose=0),
    )
    configs = [result.config["params"] for result in tuner.fit()]
    assert len(configs) == 6
    assert all(0.05 <= c["method.temperature"] <= 1.0 and c["method.out_dim"] in (64, 128) for c in configs)
    assert len({c["method.temperature"] for c in configs}) == 6
