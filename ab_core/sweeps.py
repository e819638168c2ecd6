"""`SweepSpec`: a trial spec, a search space over its parameter paths, the objective and the scheduler.

A trial is the trial spec with the sampled values set at their dotted paths (`method.temperature`,
`optim.lr`). With `evaluate`, a trial is a pipeline: pretrain, then evaluate the backbone it produced, and
the objective is the evaluation's metric (an AUROC instead of the pretrainer's own loss). Every domain is
checked at its bounds against the spec, so an impossible range is refused before anything runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, TypeAdapter, ValidationError, model_validator

from ab_core import registry
from ab_core.errors import SpecError
from ab_core.evaluation.table import TABLE_METRICS
from ab_core.params import StrictModel, canonical_hash
from ab_core.specs import JobSpec, problems_of, read_spec_file

PRETRAIN_METRICS = ("loss", "lr")
CLASSIFIER_METRICS = ("top1", "top5")
MAX_TRIALS = 1000


class LogUniform(StrictModel):
    loguniform: tuple[float, float] = Field(description="[low, high], sampled uniformly in log space")


class Uniform(StrictModel):
    uniform: tuple[float, float] = Field(description="[low, high]")


class RandInt(StrictModel):
    randint: tuple[int, int] = Field(description="[low, high): an integer, high excluded")


class Choice(StrictModel):
    choice: list[Any] = Field(min_length=1, description="one of these values, sampled")


class Grid(StrictModel):
    grid: list[Any] = Field(min_length=1, description="every one of these values (crossed with other grids)")


def _domain_tag(value: Any) -> str | None:
    """A domain's one key (from JSON) or field (from a model)."""
    if isinstance(value, dict):
        return str(next(iter(value))) if len(value) == 1 else None
    return next(iter(type(value).model_fields)) if isinstance(value, StrictModel) else None


Domain = Annotated[
    Union[  # noqa: UP007
        Annotated[LogUniform, Tag("loguniform")],
        Annotated[Uniform, Tag("uniform")],
        Annotated[RandInt, Tag("randint")],
        Annotated[Choice, Tag("choice")],
        Annotated[Grid, Tag("grid")],
    ],
    Discriminator(
        _domain_tag,
        custom_error_type="domain",
        custom_error_message="a domain is one of {loguniform: [low, high]}, {uniform: [low, high]}, "
        "{randint: [low, high]}, {choice: [values]}, {grid: [values]}",
    ),
]


def domain_kind(domain: Any) -> str:
    return str(_domain_tag(domain))


def probe_values(domain: Any) -> list[Any]:
    """The values that bound a domain: every listed value, or both ends of a range."""
    kind = domain_kind(domain)
    if kind in ("choice", "grid"):
        return list(getattr(domain, kind))
    low, high = getattr(domain, kind)
    return [low, high - 1] if kind == "randint" else [low, high]


class SchedulerSpec(StrictModel):
    name: Literal["fifo", "asha"] = "fifo"
    grace_period: int = Field(1, ge=1, description="asha: optimiser steps every trial runs before a cut")
    reduction_factor: float = Field(2.0, gt=1.0, le=16, description="asha: 1/factor of trials pass each rung")
    max_t: int | None = Field(None, ge=1, description="asha: steps of the longest trial (default: its steps)")


class SweepSpec(StrictModel):
    kind: Literal["sweep"]
    trial: JobSpec = Field(description="the spec every trial runs, with the sampled values set")
    evaluate: JobSpec | None = Field(
        None, description="pipeline trials: evaluate each trial's backbone with this spec; its metric is the "
        "objective. Its backbone is filled in per trial"
    )
    space: dict[str, Domain] = Field(min_length=1, description="dotted parameter path -> domain")
    num_samples: int = Field(1, ge=1, le=MAX_TRIALS, description="samples (each grid is crossed this often)")
    metric: str | None = Field(None, description="what the trials are ranked by (default: per trial kind)")
    mode: Literal["min", "max"] | None = Field(None, description="default: min for loss, max otherwise")
    scheduler: SchedulerSpec = SchedulerSpec()
    search: Literal["random", "grid", "optuna"] = Field(
        "random", description="random: sample every domain (grids crossed); grid: only grids and choices, "
        "crossed; optuna: TPE, each trial sampled from what the finished ones scored"
    )
    max_concurrent_trials: int | None = Field(
        None, ge=1, le=1024, description="cap on trials at once (default: as many as the cluster fits)"
    )
    name: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        problems = self._pipeline_problems() + self._space_problems()
        if not problems:
            problems = self._objective_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # -- what a trial runs --------------------------------------------------------------------------------

    def trial_spec(self, params: dict[str, Any]) -> JobSpec:
        return JobSpec.model_validate(_with_values(self.trial, params, "trial"))

    def evaluation_spec(self, params: dict[str, Any], checkpoint: str, from_job: str | None) -> JobSpec:
        """The pipeline's second stage: the evaluate spec on the trial's backbone checkpoint."""
        assert self.evaluate is not None
        raw = _with_values(self.evaluate, params, "evaluate")
        raw["backbone"] = {**raw["backbone"], "arch": self.trial.backbone.arch, "weights": checkpoint,
                           "from_job": from_job}  # fmt: skip
        return JobSpec.model_validate(raw)

    def objective(self) -> tuple[str, Literal["min", "max"]]:
        metric = self.metric or default_metric(self.objective_spec())
        return metric, self.mode or ("min" if metric == "loss" else "max")

    def objective_spec(self) -> JobSpec:
        """The spec whose metrics rank the trials: the evaluation of a pipeline, else the trial."""
        return self.evaluate or self.trial

    def total_trials(self) -> int:
        grids = [len(domain.grid) for domain in self.space.values() if isinstance(domain, Grid)]
        if self.search == "grid":
            grids += [len(domain.choice) for domain in self.space.values() if isinstance(domain, Choice)]
        return self.num_samples * math.prod(grids)

    def spec_hash(self) -> str:
        return canonical_hash(self.model_dump(mode="json"))

    # -- checks -------------------------------------------------------------------------------------------

    def _pipeline_problems(self) -> list[str]:
        if self.evaluate is None:
            return []
        problems = []
        if self.trial.kind != "pretrain":
            problems.append(f"evaluate: pipeline trials pretrain first; trial.kind is {self.trial.kind!r}")
        if self.evaluate.kind != "evaluate":
            problems.append(f"evaluate.kind: must be 'evaluate', got {self.evaluate.kind!r}")
        if self.evaluate.backbone.weights != "none" or self.evaluate.backbone.from_job is not None:
            problems.append("evaluate.backbone: leave weights and from_job unset: each trial's checkpoint is")
        return problems

    def _space_problems(self) -> list[str]:
        problems = []
        for path, domain in self.space.items():
            problems += [f"space.{path}: {problem}" for problem in self._domain_problems(path, domain)]
        for path, domain in self.space.items():
            if self.search == "grid" and not isinstance(domain, Grid | Choice):
                problems.append(f"space.{path}: search 'grid' takes grid or choice domains only")
            if self.search == "optuna" and isinstance(domain, Grid):
                problems.append(f"space.{path}: search 'optuna' samples every domain; use choice, not grid")
        if not problems and self.total_trials() > MAX_TRIALS:
            problems.append(f"num_samples: {self.total_trials()} trials in all; at most {MAX_TRIALS}")
        return problems

    def _domain_problems(self, path: str, domain: Any) -> list[str]:
        kind = domain_kind(domain)
        if kind in ("loguniform", "uniform", "randint"):
            low, high = getattr(domain, kind)
            if not low < high:
                return [f"{kind} [{low}, {high}]: low must be below high"]
            if kind == "loguniform" and low <= 0:
                return [f"loguniform [{low}, {high}]: both ends must be above 0"]
        root, _, rest = path.partition(".")
        if root == "evaluate":
            if self.evaluate is None:
                return ["paths under 'evaluate.' need an evaluate spec (a pipeline sweep)"]
            target, name, path = self.evaluate, "evaluate", rest
        else:
            target, name = self.trial, "trial"
        fixed = ("kind", "method.method", "data.root")
        if path in fixed or (path.startswith("backbone.") and name == "evaluate"):
            return [f"{name}.{path} cannot be searched"]
        problem = _unknown_path(target.model_dump(mode="json"), path)
        if problem:
            return [problem]
        for value in probe_values(domain):
            try:
                JobSpec.model_validate(_set_path(target.model_dump(mode="json"), path, value))
            except ValidationError as error:
                return [f"{value!r} is not accepted: {'; '.join(problems_of(error))}"]
        return []

    def _objective_problems(self) -> list[str]:
        metric, _ = self.objective()
        accepted = objective_metrics(self.objective_spec())
        if metric not in accepted:
            stage = "the evaluation" if self.evaluate else f"a {self.trial.method.method} trial"
            return [f"metric: {metric!r} is not reported by {stage}; accepted: {', '.join(accepted)}"]
        if self.scheduler.name == "asha" and (self.evaluate is not None or self.trial.kind != "pretrain"):
            return [f"scheduler.name: asha cuts trials on the metric during training, but {metric!r} is "
                    "only known when a trial ends (an evaluation); use fifo"]  # fmt: skip
        return []


def objective_metrics(spec: JobSpec) -> tuple[str, ...]:
    """The metrics a spec's run reports, any of which a sweep may rank trials by."""
    if spec.kind == "pretrain":
        return PRETRAIN_METRICS + registry.get(spec.method.method).metrics
    if registry.get(spec.method.method).task == "classification":
        return CLASSIFIER_METRICS
    return tuple(TABLE_METRICS)


def default_metric(spec: JobSpec) -> str:
    """loss for a pretraining, image AUROC for an anomaly detector, top-1 for a classifier."""
    return objective_metrics(spec)[0]


def _unknown_path(raw: dict[str, Any], path: str) -> str | None:
    node: Any = raw
    for depth, part in enumerate(path.split(".")):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(path.split(".")[:depth]) or "the spec"
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "nothing (not a section)"
            return f"no parameter {part!r} in {where}; it has: {known}"
        node = node[part]
    return None


def _set_path(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `raw` with `value` at the dotted `path` (the sections on the way are copied too)."""
    head, _, rest = path.partition(".")
    return {**raw, head: _set_path(raw[head], rest, value) if rest else value}


def _with_values(spec: JobSpec, params: dict[str, Any], stage: str) -> dict[str, Any]:
    raw = spec.model_dump(mode="json")
    for path, value in params.items():
        root, _, rest = path.partition(".")
        if (root == "evaluate") == (stage == "evaluate"):
            raw = _set_path(raw, rest if stage == "evaluate" else path, value)
    return raw


SubmittedSpec = Annotated[Union[JobSpec, SweepSpec], Field(discriminator="kind")]  # noqa: UP007
_SUBMITTED: TypeAdapter[JobSpec | SweepSpec] = TypeAdapter(SubmittedSpec)


def parse_submitted(raw: dict[str, Any]) -> JobSpec | SweepSpec:
    """A job or a sweep, by its `kind`."""
    try:
        return _SUBMITTED.validate_python(raw)
    except ValidationError as error:
        raise SpecError(problems_of(error, tagged=True)) from None


def load_submitted(path: str | Path) -> JobSpec | SweepSpec:
    return parse_submitted(read_spec_file(path))
