"""Sweep specs: values land at their paths, and every impossible space is refused with the path named."""

from __future__ import annotations

from typing import Any

import pytest

from ab_core.errors import SpecError
from ab_core.sweeps import SweepSpec, parse_submitted

TRIAL = {"kind": "pretrain", "method": {"method": "cdo"}, "data": {"dataset": "mvtec", "root": "/d"},
         "schedule": {"steps": 4}}  # fmt: skip
PADIM = {"kind": "evaluate", "method": {"method": "padim"}, "data": {"dataset": "mvtec", "root": "/d"}}


def sweep(**fields: Any) -> dict[str, Any]:
    return {"kind": "sweep", "trial": TRIAL, "space": {"method.gamma": {"choice": [2.0, 3.0]}}, **fields}


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as refused:
        parse_submitted(raw)
    return refused.value.problems


def test_a_trial_gets_each_sampled_value_at_its_path():
    space = {"method.gamma": {"uniform": [1.0, 4.0]}, "optim.lr": {"grid": [0.1]}}
    spec = parse_submitted(sweep(space=space))
    assert isinstance(spec, SweepSpec)
    trial = spec.trial_spec({"method.gamma": 3.0, "optim.lr": 0.1})
    assert (trial.method.gamma, trial.optim.lr, trial.schedule.steps) == (3.0, 0.1, 4)
    assert spec.trial.method.gamma != 3.0  # the sweep's own trial spec is untouched


def test_a_job_spec_still_parses_by_its_kind():
    assert parse_submitted(TRIAL).kind == "pretrain"


def test_grids_cross_and_repeat_with_num_samples():
    space = {"method.gamma": {"grid": [1.0, 2.0, 3.0]}, "optim.lr": {"choice": [0.1, 0.01]}}
    assert parse_submitted(sweep(space=space, num_samples=2)).total_trials() == 6
    assert parse_submitted(sweep(space=space, search="grid")).total_trials() == 6


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"method.gama": {"choice": [1.0]}}, "space.method.gama: no parameter 'gama' in method; it has: "),
        ({"optimizer.lr": {"choice": [1.0]}}, "space.optimizer.lr: no parameter 'optimizer' in the spec"),
        ({"method.gamma": {"uniform": [3.0, 2.0]}}, "space.method.gamma: uniform [3.0, 2.0]: low must be"),
        ({"optim.lr": {"loguniform": [0.0, 1.0]}}, "space.optim.lr: loguniform [0.0, 1.0]: both ends"),
        ({"optim.lr": {"loguniform": [0.01, 11]}}, "space.optim.lr: 11.0 is not accepted: optim.lr:"),
        ({"method.defect": {"choice": ["cutpaste", "scratch"]}}, "space.method.defect: 'scratch' is not"),
        ({"method.method": {"choice": ["simclr"]}}, "space.method.method: trial.method.method cannot be"),
        ({"data.root": {"choice": ["/etc"]}}, "space.data.root: trial.data.root cannot be searched"),
        ({"evaluate.method.n_features": {"choice": [10]}}, "space.evaluate.method.n_features: paths under"),
    ],
)
def test_an_impossible_space_names_the_path_and_what_is_wrong(space: dict[str, Any], expected: str):
    (problem,) = problems(sweep(space=space))
    assert problem.startswith(expected), problem


def test_every_bad_path_is_reported_at_once():
    space = {"method.gama": {"choice": [1.0]}, "optim.lr": {"uniform": [2.0, 1.0]}}
    assert [p.split(":")[0] for p in problems(sweep(space=space))] == ["space.method.gama", "space.optim.lr"]


def test_the_objective_defaults_per_trial_and_must_be_reported():
    assert parse_submitted(sweep()).objective() == ("loss", "min")
    assert parse_submitted(sweep(metric="defect_d", mode="max")).objective() == ("defect_d", "max")
    pipeline = parse_submitted(sweep(evaluate=PADIM))
    assert pipeline.objective() == ("image_auroc", "max")
    (problem,) = problems(sweep(metric="top1"))
    assert problem == "metric: 'top1' is not reported by a cdo trial; accepted: loss, lr, normal_d, defect_d"


def test_asha_needs_a_metric_reported_while_training():
    assert parse_submitted(sweep(scheduler={"name": "asha", "grace_period": 2})).scheduler.grace_period == 2
    (problem,) = problems(sweep(evaluate=PADIM, scheduler={"name": "asha"}))
    assert problem.startswith("scheduler.name: asha cuts trials on the metric during training")


def test_grid_search_takes_only_listed_values():
    (problem,) = problems(sweep(space={"optim.lr": {"uniform": [0.1, 0.2]}}, search="grid"))
    assert problem == "space.optim.lr: search 'grid' takes grid or choice domains only"


def test_a_pipeline_evaluates_each_trials_checkpoint_and_refuses_a_fixed_backbone():
    spec = parse_submitted(sweep(evaluate=PADIM, space={"evaluate.method.n_features": {"grid": [10, 20]}}))
    assert isinstance(spec, SweepSpec)
    evaluation = spec.evaluation_spec({"evaluate.method.n_features": 10}, "/runs/t1/ckpt", from_job="t1")
    assert evaluation.method.n_features == 10
    assert (evaluation.backbone.weights, evaluation.backbone.from_job) == ("/runs/t1/ckpt", "t1")
    assert spec.trial_spec({"evaluate.method.n_features": 10}) == spec.trial  # not a trial parameter
    fixed = PADIM | {"backbone": {"weights": "imagenet"}}
    assert any(p.startswith("evaluate.backbone: leave weights") for p in problems(sweep(evaluate=fixed)))


def test_an_unknown_domain_lists_the_accepted_ones():
    (problem,) = problems(sweep(space={"optim.lr": {"normal": [0, 1]}}))
    assert problem.startswith("space.optim.lr: a domain is one of {loguniform: [low, high]}")


def test_optuna_samples_and_takes_no_grid():
    assert parse_submitted(sweep(search="optuna", num_samples=8)).total_trials() == 8
    (problem,) = problems(sweep(search="optuna", space={"method.gamma": {"grid": [1.0, 2.0]}}))
    assert problem == "space.method.gamma: search 'optuna' samples every domain; use choice, not grid"


def test_method_name_reads_a_job_spec_or_a_sweeps_trial_and_is_none_when_missing():
    from ab_core.raw_specs import method_name

    assert method_name({"method": {"method": "padim"}}) == "padim"
    assert method_name({"kind": "sweep", "trial": {"method": {"method": "simclr"}}}) == "simclr"
    assert method_name({"kind": "sweep", "trial": {}}) is None
    assert method_name({"method": "oops"}) is None
