"""Which queued jobs fit on the Ray cluster now: GPU-aware, with backfill that cannot starve a big job.

Jobs are considered in claim order (priority, then age). One that fits starts and takes its share of the
free CPUs / GPUs. One that does not fit yet is passed over (a smaller job behind it may backfill) until it
has waited `reserve_after` seconds; from then on it reserves the cluster: nothing behind it starts, so the
running jobs drain and it gets its GPUs. A job larger than the whole cluster never reserves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.children import is_child_of_running_parent
from services.ray_jobs import ClusterResources
from services.records import JobRecord


@dataclass(frozen=True)
class Demand:
    """CPUs and GPUs a job's Ray Train workers hold together."""

    cpus: float = 0.0
    gpus: float = 0.0

    @classmethod
    def of_spec(cls, spec: dict[str, Any]) -> Demand:
        """From a stored spec's `resources` (workers x per-worker CPUs / GPUs, defaults as in ab_core); a
        sweep needs room for one trial (its stages run one after the other)."""
        if spec.get("kind") == "sweep":
            stages = [cls.of_spec(stage) for stage in (spec["trial"], spec.get("evaluate")) if stage]
            return Demand(max(s.cpus for s in stages), max(s.gpus for s in stages))
        resources = spec.get("resources") or {}
        workers = float(resources.get("workers", 1))
        return cls(
            cpus=workers * float(resources.get("cpus_per_worker", 1)),
            gpus=workers * float(resources.get("gpus_per_worker", 0)),
        )

    def __add__(self, other: Demand) -> Demand:
        return Demand(self.cpus + other.cpus, self.gpus + other.gpus)

    def __sub__(self, other: Demand) -> Demand:
        return Demand(self.cpus - other.cpus, self.gpus - other.gpus)

    def fits_in(self, room: Demand) -> bool:
        return self.cpus <= room.cpus + 1e-9 and self.gpus <= room.gpus + 1e-9

    def __str__(self) -> str:
        return f"{self.cpus:g} CPU, {self.gpus:g} GPU"


def committed(running: list[JobRecord]) -> Demand:
    """What running jobs hold. A job whose children run (a sweep, a pipeline trial) holds nothing itself:
    its children count instead, while it runs (a sweep queued again after its driver died holds nothing:
    its trials' workers died with it)."""
    ids = {job.id for job in running}
    parents = {job.parent_id for job in running if job.parent_id}
    holding = [job for job in running if job.id not in parents
               and (not is_child_of_running_parent(job) or job.parent_id in ids)]  # fmt: skip
    return sum((Demand.of_spec(job.spec) for job in holding), Demand())


def room(cluster: ClusterResources, running: list[JobRecord]) -> tuple[Demand, Demand]:
    """(total, free) of the cluster. Ray's usage lags a few seconds behind; our own bookkeeping of what the
    running jobs hold lags behind nothing, so the smaller of the two is free."""
    total = Demand(cluster.total.get("CPU", 0.0), cluster.total.get("GPU", 0.0))
    ours = committed(running)
    free = Demand(min(total.cpus - ours.cpus, cluster.available("CPU")),
                  min(total.gpus - ours.gpus, cluster.available("GPU")))  # fmt: skip
    return total, free


@dataclass(frozen=True)
class Waiting:
    """A queued job as placement sees it."""

    job_id: str
    demand: Demand
    queued_at: datetime


@dataclass(frozen=True)
class Placement:
    start: list[str]  # claim these now, in this order
    too_big: list[str]  # larger than the whole cluster


def place(
    queued: list[Waiting], free: Demand, total: Demand, now: datetime, reserve_after: timedelta
) -> Placement:
    """`queued` in claim order; `free` what the cluster can still give; `total` its size."""
    start, too_big = [], []
    for job in queued:
        if not job.demand.fits_in(total):
            too_big.append(job.job_id)
        elif job.demand.fits_in(free):
            start.append(job.job_id)
            free = free - job.demand
        elif now - job.queued_at >= reserve_after:
            break  # this job has waited long enough: what is free now is kept for it
    return Placement(start, too_big)
