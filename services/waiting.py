"""Why a queued job has not started: the job it waits for, what it needs against what the cluster has, and
its place in the queue (what `GET /v1/jobs/{id}`, `abs status` and `abs watch` show)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select

from services.db import Database
from services.models import Job
from services.pipelines import gate, waits_on
from services.placement import Demand, room
from services.ray_jobs import ClusterResources, RayJobs, RayUnavailableError
from services.records import JobRecord
from services.states import JobState


@dataclass(frozen=True)
class Upstream:
    """The job a pipeline job waits for (`field` names the spec field that points at it)."""

    field: str
    job_id: str
    state: str


@dataclass(frozen=True)
class WaitReason:
    position: int  # 1 = the first the dispatcher considers (highest priority, then oldest)
    queued: int
    needs: Demand
    total: Demand | None  # the cluster's size; None when Ray could not be read (`cluster_problem` says why)
    free: Demand | None
    upstream: Upstream | None
    doomed: str | None  # the upstream ended without a backbone: the dispatcher fails this job
    cluster_problem: str | None = None

    @property
    def summary(self) -> str:
        """One line: the first thing that holds the job back, then its place in the queue."""
        place = f"position {self.position} of {self.queued} in the queue"
        if self.doomed:
            return f"{self.doomed}: the dispatcher fails it on its next pass"
        if self.upstream is not None:
            up = self.upstream
            return f"waits for job {up.job_id} ({up.field}) to succeed; it is {up.state}; {place}"
        if self.total is None or self.free is None:
            unknown = f"the cluster's resources are unknown ({self.cluster_problem})"
            return f"needs {self.needs}; {unknown}; {place}"
        if not self.needs.fits_in(self.total):
            return (f"needs {self.needs} at once but the cluster has {self.total} in total: it fails unless "
                    f"the cluster grows; {place}")  # fmt: skip
        if not self.needs.fits_in(self.free):
            return f"needs {self.needs}; {self.free} of {self.total} free; {place}"
        return f"fits ({self.needs} of {self.free} free): starts on the dispatcher's next pass; {place}"


def explain(db: Database, jobs: list[JobRecord], cluster: ClusterResources | str) -> dict[str, WaitReason]:
    """The wait reason of each queued job among `jobs`, by id; `cluster`: Ray's resources, or why they
    could not be read."""
    waiting = [job for job in jobs if job.state is JobState.QUEUED]
    if not waiting:
        return {}
    with db.read() as session:
        queued = session.scalar(select(func.count()).where(Job.state == JobState.QUEUED.value)) or 0
        ahead = {job.id: session.scalar(select(func.count()).where(_ahead_of(job))) or 0 for job in waiting}
        gated = gate(session, waiting)
        ups = {up for job in gated.waiting if (up := (waits_on(job.spec) or ("", ""))[1])}
        rows = session.execute(select(Job.id, Job.state).where(Job.id.in_(ups)))
        states = {row.id: row.state for row in rows}
        running = [JobRecord.of(row) for row in session.scalars(
            select(Job).where(Job.state == JobState.RUNNING.value))]  # fmt: skip
    total, free = room(cluster, running) if isinstance(cluster, ClusterResources) else (None, None)
    doomed = {job.id: reason for job, reason in gated.doomed}
    held = {job.id for job in gated.waiting}
    reasons = {}
    for job in waiting:
        upstream = None
        if job.id in held and (wait := waits_on(job.spec)):
            upstream = Upstream(wait[0], wait[1], states.get(wait[1], "unknown"))
        reasons[job.id] = WaitReason(
            position=ahead[job.id] + 1, queued=max(queued, ahead[job.id] + 1),  # one claimed as we read
            needs=Demand.of_spec(job.spec),
            total=total, free=free, upstream=upstream, doomed=doomed.get(job.id),
            cluster_problem=cluster if isinstance(cluster, str) else None,
        )  # fmt: skip
    return reasons


def _ahead_of(job: JobRecord) -> ColumnElement[bool]:
    """Queued jobs before `job` in claim order (services.queue.CLAIM_ORDER: priority down, age, id)."""
    older = or_(Job.created_at < job.created_at, and_(Job.created_at == job.created_at, Job.id < job.id))
    first = or_(Job.priority > job.priority, and_(Job.priority == job.priority, older))
    return and_(Job.state == JobState.QUEUED.value, first)


class ClusterGauge:
    """Ray's cluster resources, read at most once per `ttl` seconds, so polling a queued job stays cheap
    (a failed read is kept as long: an unreachable Ray costs one short timeout per `ttl`)."""

    def __init__(self, address: str, token: str | None, ttl: float = 5.0, timeout: float = 2.0):
        self.address, self.token, self.ttl, self.timeout = address, token, ttl, timeout
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._value: ClusterResources | str = ""

    def read(self) -> ClusterResources | str:
        """The resources, or why Ray could not tell them."""
        with self._lock:
            if time.monotonic() - self._read_at >= self.ttl:
                ray = RayJobs(self.address, self.token, timeout=self.timeout)
                try:
                    self._value = ray.resources()
                except RayUnavailableError as error:
                    self._value = str(error)
                finally:
                    ray.close()
                self._read_at = time.monotonic()
            return self._value
