"""What a finished job's MLflow run holds, read from SQL: spec params, tags, metric history, artifact files.

No MLflow here: plain values that `services.tracking` hands to MLflow's client.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ab_core.raw_specs import method_name
from services.errors import NotFoundError
from services.events import latest_per_step, step_of
from services.models import Artifact, Job, JobEvent
from services.records import JobRecord
from services.results import PROBE_METRICS
from services.states import JobState

JOB_ID_TAG = "ab.job_id"  # how a job finds its run again (one run per job)
RUN_STATUS = {JobState.SUCCEEDED: "FINISHED", JobState.FAILED: "FAILED", JobState.CANCELLED: "KILLED"}
ARTIFACT_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".csv", ".json", ".md", ".txt")  # not the weights
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
MAX_TAG_LENGTH = 5000  # and on a tag value (older servers)
_NOT_IN_A_NAME = re.compile(r"[^\w./\- :]")  # what MLflow refuses in a metric name
_STEP_FIELDS = ("step", "epoch", "total_steps")  # counters of a report, not metrics


@dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float
    timestamp_ms: int
    step: int


@dataclass(frozen=True)
class TrackedRun:
    """One job as an MLflow run."""

    job: JobRecord
    params: dict[str, str]
    tags: dict[str, str]
    metrics: list[MetricPoint]
    artifacts: list[tuple[Path, str | None]]  # (file, folder in the run's artifacts)

    @property
    def status(self) -> str:
        return RUN_STATUS.get(self.job.state, "RUNNING")

    @property
    def end_ms(self) -> int | None:
        return millis(self.job.finished_at) if self.job.finished_at else None


def read_run(session: Session, job: JobRecord) -> TrackedRun:
    """The run of `job` from its row, its progress events and its registered artifacts."""
    progress = session.scalars(
        select(JobEvent).where(JobEvent.job_id == job.id, JobEvent.kind == "progress").order_by(JobEvent.seq)
    )
    history = metric_history(progress)
    last_step = max((point.step for point in history), default=0)
    ended = millis(job.finished_at or job.updated_at)
    logged = {(point.key, point.step) for point in history}
    final = [
        MetricPoint(key, value, ended, last_step)
        for key, value in final_metrics(job.result or {}).items()
        if (key, last_step) not in logged
    ]
    files = session.scalars(select(Artifact).where(Artifact.job_id == job.id).order_by(Artifact.name))
    return TrackedRun(job, flat_params(job.spec), run_tags(job), history + final, artifact_files(files))


def run_name(job: JobRecord) -> str:
    """The spec's name; else its method and a trial's sampled values, or the job id."""
    spec = job.spec
    method = method_name(spec) or job.kind
    if spec.get("name"):
        return str(spec["name"])
    if job.params:
        return f"{method} " + ", ".join(f"{key}={value}" for key, value in job.params.items())
    return f"{method} {job.id}"


def run_tags(job: JobRecord) -> dict[str, str]:
    """Who and what the run is: job id, kind, owner, spec hash, dataset fingerprint, code version, error."""
    result = job.result or {}
    tags = {
        JOB_ID_TAG: job.id, "ab.kind": job.kind, "ab.state": job.state.value, "ab.attempt": str(job.attempt),
        "ab.owner": job.owner, "mlflow.user": job.owner, "ab.spec_hash": job.spec_hash,
        "ab.parent_job_id": job.parent_id, "ab.dataset_fingerprint": result.get("dataset_fingerprint"),
        "ab.code_version": result.get("code_version"), "ab.error": job.error,
    }  # fmt: skip
    return {key: str(value)[:MAX_TAG_LENGTH] for key, value in tags.items() if value is not None}


def flat_params(spec: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """The spec as dotted keys (`method.temperature`, `data.batch_size`); lists and numbers as JSON."""
    params: dict[str, str] = {}
    for key, value in spec.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            params |= flat_params(value, f"{name}.")
        else:
            params[name] = (value if isinstance(value, str) else json.dumps(value))[:MAX_PARAM_LENGTH]
    return params


def metric_history(progress: Any) -> list[MetricPoint]:
    """Each progress report's numbers at its step; a later attempt's report of a step replaces an earlier's
    (a resumed job reports again from its last checkpoint). Reports with no step (an evaluation's
    per-category results) are left to `final_metrics`."""
    points = [
        MetricPoint(key, value, millis(event.created_at), step)
        for event in latest_per_step(progress)
        if (step := step_of(event)) is not None
        for key, value in numbers(event.data.get("metrics")).items()
    ]
    return sorted(points, key=lambda point: (point.key, point.step))


def final_metrics(result: dict[str, Any]) -> dict[str, float]:
    """A finished job's own numbers: a pretraining's last metrics; an evaluation's mean, per category
    (`<category>.<metric>`) or top-1 / top-5; a sweep's best objective (`best.<metric>`) and trial counts."""
    found = numbers({name: result.get(name) for name in PROBE_METRICS})
    for section in ("metrics", "mean", "categories"):
        found |= numbers(result.get(section))
    best = result.get("best")
    if isinstance(best, dict) and result.get("metric"):
        found |= numbers({"best": {result["metric"]: best.get("value")}, "trials": result.get("trials")})
    return {key: value for key, value in found.items() if key not in _STEP_FIELDS}


def numbers(tree: Any, prefix: str = "") -> dict[str, float]:
    """The finite numbers of a nested mapping, under dotted names MLflow accepts (flags, text and NaN left
    out)."""
    if isinstance(tree, dict):
        found: dict[str, float] = {}
        for key, value in tree.items():
            found |= numbers(value, f"{prefix}{_NOT_IN_A_NAME.sub('_', str(key))}.")
        return found
    if isinstance(tree, int | float) and not isinstance(tree, bool) and math.isfinite(tree) and prefix:
        return {prefix[:-1]: float(tree)}
    return {}


def artifact_files(rows: Any) -> list[tuple[Path, str | None]]:
    """The pictures and tables among a job's registered files (weights stay out), where they still are."""
    files = []
    for row in rows:
        name, path = PurePosixPath(row.name), Path(row.path)
        if name.suffix.lower() in ARTIFACT_SUFFIXES and path.is_file():
            files.append((path, None if str(name.parent) == "." else str(name.parent)))
    return files


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def job_record(session: Session, job_id: str) -> JobRecord:
    row = session.get(Job, job_id)
    if row is None:
        raise NotFoundError(f"no job {job_id!r}")
    return JobRecord.of(row)
