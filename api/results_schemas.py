"""Response bodies of the results leaderboard (`GET /v1/results`): backbone x evaluator rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.results import BackboneRecord, EvaluatorRecord, LeaderboardPage, ResultRecord


class BackboneRead(BaseModel):
    source: str = Field(description="'job' (a pretraining job of the service), 'imagenet', 'none' (random "
                        "init) or 'checkpoint' (a directory no visible job produced)")  # fmt: skip
    arch: str
    job_id: str | None = Field(description="the pretraining job (for a sweep: its best trial)")
    method: str | None = Field(description="the pretraining method; null for a source that is no job")
    params: dict[str, Any] = Field(description="the method's parameters")
    spec_hash: str | None
    dataset_fingerprint: str | None
    parent_id: str | None = Field(description="the sweep this job is a trial of")
    sweep_id: str | None = Field(description="the sweep the evaluation named as its backbone")
    checkpoint: str | None

    @classmethod
    def of(cls, backbone: BackboneRecord) -> BackboneRead:
        return cls(
            source=backbone.source, arch=backbone.arch, job_id=backbone.job_id, method=backbone.method,
            params=backbone.params, spec_hash=backbone.spec_hash,
            dataset_fingerprint=backbone.dataset_fingerprint, parent_id=backbone.parent_id,
            sweep_id=backbone.sweep_id, checkpoint=backbone.checkpoint,
        )  # fmt: skip


class EvaluatorRead(BaseModel):
    job_id: str
    method: str = Field(description="padim, rd4ad, linear_probe, ...")
    params: dict[str, Any]
    spec_hash: str
    dataset: str = Field(description="spec.data.dataset, e.g. mvtec")
    root: str
    categories: list[str]
    dataset_fingerprint: str | None

    @classmethod
    def of(cls, evaluator: EvaluatorRecord) -> EvaluatorRead:
        return cls(
            job_id=evaluator.job_id, method=evaluator.method, params=evaluator.params,
            spec_hash=evaluator.spec_hash, dataset=evaluator.dataset, root=evaluator.root,
            categories=evaluator.categories, dataset_fingerprint=evaluator.dataset_fingerprint,
        )  # fmt: skip


class ResultRowRead(BaseModel):
    backbone: BackboneRead
    evaluator: EvaluatorRead
    metrics: dict[str, float] = Field(
        description="the mean over categories (anomaly detectors) or top1 / top5 (linear probe); with "
        "`category`, that category's metrics"
    )
    categories: dict[str, dict[str, float]] = Field(description="per category, numeric metrics only")
    finished_at: datetime | None

    @classmethod
    def of(cls, row: ResultRecord) -> ResultRowRead:
        return cls(
            backbone=BackboneRead.of(row.backbone), evaluator=EvaluatorRead.of(row.evaluator),
            metrics=row.metrics, categories=row.categories, finished_at=row.finished_at,
        )  # fmt: skip


class ResultPage(BaseModel):
    items: list[ResultRowRead] = Field(description="best first")
    total: int = Field(description="rows that matched the filters, before `limit`")
    sort: str | None = Field(description="the metric rows are sorted by; null: image_auroc for anomaly "
                             "rows, top1 for linear-probe rows")  # fmt: skip
    category: str | None = Field(description="the category whose metrics each row carries; null: the mean")

    @classmethod
    def of(cls, page: LeaderboardPage, sort: str | None, category: str | None) -> ResultPage:
        items = [ResultRowRead.of(row) for row in page.items]
        return cls(items=items, total=page.total, sort=sort, category=category)
