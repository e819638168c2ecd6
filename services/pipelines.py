"""Pipelines: a job whose `backbone.from_job` names another job waits for it, then loads its checkpoint.

The dispatcher holds such a job in the queue while the upstream job is queued or running, fails it (with
the upstream's reason) once the upstream failed or was cancelled, and lets it go once the upstream
succeeded. The worker reads the job with `backbone.weights` set to the upstream's checkpoint: a
pretraining job's final checkpoint, or a sweep's best trial's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.models import Job
from services.records import JobRecord
from services.states import JobState


def backbone_sections(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The backbone sections a job loads: its own, or a sweep's trial's (a pipeline's evaluation stage
    gets each trial's checkpoint instead)."""
    section = spec.get("trial", spec) if spec.get("kind") == "sweep" else spec
    if isinstance(section.get("backbone"), dict):
        yield section["backbone"]


def upstream_of(spec: dict[str, Any]) -> str | None:
    """The job this one waits for: a `from_job` whose checkpoint is not filled in yet."""
    for backbone in backbone_sections(spec):
        if backbone.get("from_job") and backbone.get("weights", "none") == "none":
            return str(backbone["from_job"])
    return None


def registration_upstream(spec: dict[str, Any]) -> str | None:
    """The RegAD job an evaluation reuses (`method.registration: {from_job}`), its path not filled in yet."""
    method = spec.get("method") if spec.get("kind") == "evaluate" else None
    registration = method.get("registration") if isinstance(method, dict) else None
    if isinstance(registration, dict) and registration.get("from_job") and not registration.get("path"):
        return str(registration["from_job"])
    return None


def waits_on(spec: dict[str, Any]) -> tuple[str, str] | None:
    """(field, job id) this job waits for: its backbone's `from_job`, else its registration's."""
    if up := upstream_of(spec):
        return "backbone.from_job", up
    if up := registration_upstream(spec):
        return "method.registration.from_job", up
    return None


def checkpoint_of(kind: str, result: dict[str, Any] | None) -> str | None:
    """Where a succeeded job's backbone lies: a pretraining's final checkpoint, a sweep's best trial's."""
    result = result or {}
    if kind == "sweep":
        result = result.get("best") or {}
    checkpoint = result.get("checkpoint")
    return str(checkpoint) if checkpoint else None


@dataclass
class Gate:
    """Queued jobs sorted by their upstream: free to run, still waiting, or never to run."""

    ready: list[JobRecord] = field(default_factory=list)
    waiting: list[JobRecord] = field(default_factory=list)
    doomed: list[tuple[JobRecord, str]] = field(default_factory=list)


def gate(session: Session, queued: list[JobRecord]) -> Gate:
    """One query for every upstream of `queued`; order is kept within each list."""
    wanted = {wait[1] for job in queued if (wait := waits_on(job.spec))}
    upstream = {
        row.id: row
        for row in session.execute(
            select(Job.id, Job.kind, Job.state, Job.error, Job.result).where(Job.id.in_(wanted))
        )
    } if wanted else {}  # fmt: skip
    sorted_out = Gate()
    for job in queued:
        field, up = waits_on(job.spec) or ("", None)
        row = upstream.get(up) if up else None
        if up is None:
            sorted_out.ready.append(job)
        elif row is None:
            sorted_out.doomed.append((job, f"{field}: job {up} does not exist"))
        elif row.state == JobState.SUCCEEDED.value and checkpoint_of(row.kind, row.result):
            sorted_out.ready.append(job)
        elif row.state == JobState.SUCCEEDED.value:
            sorted_out.doomed.append((job, f"{field}: job {up} succeeded without a checkpoint"))
        elif JobState(row.state).terminal:
            reason = (row.error or "").strip().splitlines()[:1]
            because = f": {reason[0]}" if reason else ""
            sorted_out.doomed.append((job, f"{field}: job {up} {row.state}{because}"))
        else:
            sorted_out.waiting.append(job)
    return sorted_out


def resolve_backbone(session: Session, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with `backbone.weights` set to the upstream job's checkpoint (unchanged without one)."""
    up = upstream_of(spec)
    if up is None:
        return spec
    row = session.execute(select(Job.kind, Job.result).where(Job.id == up)).one_or_none()
    checkpoint = checkpoint_of(row.kind, row.result) if row is not None else None
    if checkpoint is None:
        return spec
    resolved = {**spec}
    if spec.get("kind") == "sweep":
        trial = {**spec["trial"], "backbone": {**spec["trial"]["backbone"], "weights": checkpoint}}
        return {**resolved, "trial": trial}
    return {**resolved, "backbone": {**spec["backbone"], "weights": checkpoint}}


def resolve_registration(session: Session, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with `method.registration.path` set to the RegAD job's output folder (its result's
    `checkpoint`, holding `<category>/registration.pt`); unchanged without one."""
    up = registration_upstream(spec)
    row = session.execute(select(Job.kind, Job.result).where(Job.id == up)).one_or_none() if up else None
    folder = checkpoint_of(row.kind, row.result) if row is not None else None
    if folder is None:
        return spec
    method = spec["method"]
    return {**spec, "method": {**method, "registration": {**method["registration"], "path": folder}}}
