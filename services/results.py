"""The results leaderboard: one row per succeeded evaluation, joined to the backbone it evaluated."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, or_, select
from sqlalchemy.orm import Session

from ab_core import registry
from ab_core.evaluation.table import TABLE_METRICS
from ab_core.raw_specs import method_name
from services.db import Database
from services.errors import InvalidInputError
from services.models import Job
from services.pipelines import checkpoint_of
from services.records import Principal
from services.states import JobState

PROBE_METRICS = ("top1", "top5")
SORTABLE = (*TABLE_METRICS, *PROBE_METRICS)
SOURCES = ("imagenet", "none", "checkpoint")  # backbones that are no job of the service
MAX_LIMIT = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_COLUMNS = (Job.id, Job.kind, Job.spec, Job.spec_hash, Job.parent_id, Job.result, Job.finished_at)


class UnknownFilterError(InvalidInputError):
    """A leaderboard filter naming no registered method (or no sortable metric)."""

    def __init__(self, parameter: str, value: str, accepted: Iterable[str]):
        line = f"{parameter}: unknown value {value!r}; accepted: {', '.join(accepted)}"
        self.problems = [line]
        super().__init__(f"unknown {line}")


@dataclass(frozen=True)
class BackboneRecord:
    """What an evaluation started from: a pretraining job of the service, or a `source` that is none."""

    source: str  # "job", "imagenet", "none" or "checkpoint"
    arch: str
    job_id: str | None = None
    method: str | None = None  # the pretraining method (None when the job is not visible)
    params: dict[str, Any] = field(default_factory=dict)
    spec_hash: str | None = None
    dataset_fingerprint: str | None = None
    parent_id: str | None = None  # the sweep the job is a trial of
    sweep_id: str | None = None  # the evaluation named this sweep; `job_id` is its best trial
    checkpoint: str | None = None

    @property
    def name(self) -> str:
        """What the `method` filter matches: the pretraining method, else the source."""
        return (self.method or "") if self.source == "job" else self.source


@dataclass(frozen=True)
class EvaluatorRecord:
    job_id: str
    method: str
    params: dict[str, Any]
    spec_hash: str
    dataset: str
    root: str
    categories: list[str]
    dataset_fingerprint: str | None


@dataclass(frozen=True)
class ResultRecord:
    """One leaderboard row. `metrics`: the mean over categories (anomaly detectors) or top1 / top5 (linear
    probe); with a category filter, that category's metrics."""

    backbone: BackboneRecord
    evaluator: EvaluatorRecord
    metrics: dict[str, float]
    categories: dict[str, dict[str, float]]
    finished_at: datetime | None

    def sort_value(self, metric: str | None) -> float | None:
        default = "image_auroc" if self.categories or "top1" not in self.metrics else "top1"
        return self.metrics.get(metric or default)


@dataclass(frozen=True)
class LeaderboardPage:
    items: list[ResultRecord]
    total: int  # rows that matched, before `limit`


def check_filters(evaluator: str | None, method: str | None, sort: str | None) -> None:
    """UnknownFilterError unless each given value is a registered evaluator / pretrainer / known metric."""
    roles = {name: entry.role for name, entry in registry.entries().items()}
    evaluators = [name for name, role in roles.items() if role == "evaluate"]
    methods = [name for name, role in roles.items() if role == "pretrain"] + list(SOURCES)
    for parameter, value, accepted in (
        ("evaluator", evaluator, evaluators), ("method", method, methods), ("sort", sort, SORTABLE)
    ):  # fmt: skip
        if value is not None and value not in accepted:
            raise UnknownFilterError(parameter, value, accepted)


class Leaderboard:
    """Reads succeeded evaluations and their backbones (a fixed number of queries, whatever the rows)."""

    def __init__(self, db: Database):
        self.db = db

    def rows(
        self,
        principal: Principal,
        *,
        dataset: str | None = None,
        evaluator: str | None = None,
        method: str | None = None,
        category: str | None = None,
        sort: str | None = None,
        limit: int = 100,
    ) -> LeaderboardPage:
        """Rows visible to `principal` (like `JobStore.list_jobs`), best first by `sort` (default:
        image_auroc for anomaly rows, top1 for probe rows); rows without the metric come last."""
        check_filters(evaluator, method, sort)
        query = select(*_COLUMNS).where(
            Job.kind == "evaluate", Job.state == JobState.SUCCEEDED.value, *_visible(principal)
        )
        if dataset is not None:  # a dataset kind ("mvtec") or a data root
            data = (_spec_text("data", "dataset") == dataset, _spec_text("data", "root") == dataset)
            query = query.where(or_(*data))
        if evaluator is not None:
            query = query.where(_spec_text("method", "method") == evaluator)
        with self.db.read() as session:
            evaluations = session.execute(query.order_by(Job.id.desc())).all()
            backbones = _backbone_jobs(session, principal, evaluations)
        rows = []
        for evaluation in evaluations:
            row = _row(evaluation, backbones)
            if method is not None and row.backbone.name != method:
                continue
            if category is not None:  # only evaluations of that category, with its metrics alone
                if category not in row.categories:
                    continue
                only = row.categories[category]
                row = replace(row, metrics=only, categories={category: only})
            rows.append(row)
        # best first; rows without the metric last; ties newest first
        rows.sort(key=lambda r: (r.sort_value(sort) is not None, r.sort_value(sort) or 0.0,
                                 r.finished_at or _EPOCH), reverse=True)  # fmt: skip
        return LeaderboardPage(rows[: max(1, min(limit, MAX_LIMIT))], total=len(rows))


def _visible(principal: Principal) -> tuple[ColumnElement[bool], ...]:
    return () if principal.admin else (Job.owner == principal.owner,)


def _spec_text(*path: str) -> ColumnElement[str]:
    return Job.spec[path].as_string()


def _backbone_jobs(session: Session, principal: Principal, evaluations: Sequence[Row[Any]]) -> _Jobs:
    """The jobs the evaluations name (from_job) or whose checkpoint they load, then the best trial of each
    sweep among them: at most two queries."""
    ids, paths = set(), set()
    for evaluation in evaluations:
        backbone = evaluation.spec.get("backbone") or {}
        if backbone.get("from_job"):
            ids.add(backbone["from_job"])
        elif backbone.get("weights", "none") not in ("none", "imagenet"):
            paths.add(_path(backbone["weights"]))
    jobs = _Jobs()
    if not ids and not paths:
        return jobs
    checkpoint = Job.result["checkpoint"].as_string()
    named = [Job.id.in_(ids), and_(Job.kind == "pretrain", checkpoint.in_(paths))]
    jobs.add(session.execute(select(*_COLUMNS).where(or_(*named), *_visible(principal))).all())
    best_ids, best_paths = set(), set()
    for sweep in (job for job in jobs.by_id.values() if job.kind == "sweep"):
        if best_id := _best_trial_id(sweep):
            best_ids.add(best_id)
        elif best_path := checkpoint_of(sweep.kind, sweep.result):
            best_paths.add(_path(best_path))
    best_ids -= jobs.by_id.keys()
    best_paths -= jobs.by_checkpoint.keys()
    if best_ids or best_paths:
        best = [Job.id.in_(best_ids), and_(Job.kind == "pretrain", checkpoint.in_(best_paths))]
        jobs.add(session.execute(select(*_COLUMNS).where(or_(*best), *_visible(principal))).all())
    return jobs


class _Jobs:
    """Backbone jobs by id and by their result's checkpoint directory."""

    def __init__(self) -> None:
        self.by_id: dict[str, Row[Any]] = {}
        self.by_checkpoint: dict[str, Row[Any]] = {}

    def add(self, rows: Iterable[Row[Any]]) -> None:
        for row in sorted(rows, key=lambda r: r.id):  # the newest job wins a shared checkpoint path
            self.by_id[row.id] = row
            if row.kind == "pretrain" and (row.result or {}).get("checkpoint"):
                self.by_checkpoint[_path(row.result["checkpoint"])] = row


def _best_trial_id(sweep: Row[Any]) -> str | None:
    best = (sweep.result or {}).get("best")
    value = best.get("job_id") if isinstance(best, dict) else None
    return str(value) if value else None


def _row(evaluation: Row[Any], jobs: _Jobs) -> ResultRecord:
    spec, result = evaluation.spec, evaluation.result or {}
    data = spec.get("data") or {}
    per_category = result.get("categories")
    if isinstance(per_category, dict):
        categories = {name: _numeric(metrics) for name, metrics in per_category.items()}
        metrics = _numeric(result.get("mean"))
    else:  # the linear probe: top1 / top5 at the top level
        categories, metrics = {}, _numeric({name: result.get(name) for name in PROBE_METRICS})
    evaluator = EvaluatorRecord(
        job_id=evaluation.id, method=spec["method"]["method"], params=_params(spec),
        spec_hash=evaluation.spec_hash, dataset=data.get("dataset", ""), root=data.get("root", ""),
        categories=list(data.get("categories") or categories),
        dataset_fingerprint=result.get("dataset_fingerprint"),
    )  # fmt: skip
    return ResultRecord(_backbone(spec.get("backbone") or {}, jobs), evaluator, metrics, categories,
                        evaluation.finished_at)  # fmt: skip


def _backbone(section: dict[str, Any], jobs: _Jobs) -> BackboneRecord:
    arch, weights = section.get("arch", "resnet18"), section.get("weights", "none")
    from_job = section.get("from_job")
    if from_job:
        job = jobs.by_id.get(from_job)
        if job is not None and job.kind == "sweep":
            return _sweep_backbone(job, arch, jobs)
        if job is None:  # not visible to the caller (or gone)
            return BackboneRecord("job", arch, job_id=from_job)
        return _job_backbone(job, arch, None)
    if weights in ("none", "imagenet"):
        return BackboneRecord(weights, arch)
    job = jobs.by_checkpoint.get(_path(weights))
    if job is None:
        return BackboneRecord("checkpoint", arch, checkpoint=weights)
    return _job_backbone(job, arch, None)


def _sweep_backbone(sweep: Row[Any], arch: str, jobs: _Jobs) -> BackboneRecord:
    """A sweep's best trial; the sweep itself (its trial method) while that trial cannot be found."""
    best_id, best_path = _best_trial_id(sweep), checkpoint_of(sweep.kind, sweep.result)
    trial = jobs.by_id.get(best_id) if best_id else None
    if trial is None and best_path:
        trial = jobs.by_checkpoint.get(_path(best_path))
    if trial is not None:
        return _job_backbone(trial, arch, sweep.id)
    method = method_name(sweep.spec)
    return BackboneRecord("job", arch, job_id=best_id or sweep.id, method=method, sweep_id=sweep.id)


def _job_backbone(job: Row[Any], arch: str, sweep_id: str | None) -> BackboneRecord:
    result = job.result or {}
    return BackboneRecord(
        "job", arch, job_id=job.id, method=job.spec.get("method", {}).get("method"), params=_params(job.spec),
        spec_hash=job.spec_hash, dataset_fingerprint=result.get("dataset_fingerprint"),
        parent_id=job.parent_id, sweep_id=sweep_id, checkpoint=result.get("checkpoint"),
    )  # fmt: skip


def _path(directory: str) -> str:
    return directory.rstrip("/") or directory


def _params(spec: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in (spec.get("method") or {}).items() if key != "method"}


def _numeric(metrics: Any) -> dict[str, float]:
    """The finite numbers of a metrics mapping (drops None, reasons, lists of skipped paths, booleans)."""
    if not isinstance(metrics, dict):
        return {}
    return {
        name: float(value)
        for name, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }
