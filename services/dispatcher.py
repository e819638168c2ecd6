"""The dispatcher: claims queued jobs while the Ray cluster has room and runs each one as a Ray job.

SQL is the truth; Ray's job table is only evidence. Each pass of the loop:
1. dispatch: claim what fits (services.placement) and submit it as the Ray job `<job id>-a<attempt>`
   running `python -m workers.entrypoint <job id>`, with the API URL and the attempt's token in its env
   (and the cluster's GCS address, which its driver joins, and how often it checks that its attempt is
   still the live one: a driver whose job was queued again or claimed anew exits);
2. reconcile (every `reconcile_seconds`) the running jobs this dispatcher leases: heartbeat them, stop the
   Ray job of a cancelled one and then record it cancelled, and retry (as a new attempt, up to the limit)
   one whose Ray job ended or vanished without the worker posting a result: the driver or its node was lost;
3. sweep (at start and every `sweep_seconds`): stop Ray jobs of attempts SQL no longer runs.
Workers post progress, user errors and results themselves; a restarted dispatcher with the same id adopts
its leases, so a kill -9 loses nothing as long as it is back within the lease.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import timedelta

from ab_core.raw_specs import method_name
from services.db import utcnow
from services.errors import ConflictError, NotFoundError
from services.pipelines import gate
from services.placement import Demand, Waiting, place, room
from services.plane import ControlPlane
from services.ray_jobs import RayJobInfo, RayJobs, RayUnavailableError
from services.records import Claim, JobRecord, Principal
from services.states import JobState

log = logging.getLogger(__name__)

SUBMISSION_ID = re.compile(r"^(?P<job_id>.+)-a(?P<attempt>\d+)$")
LOG_TAIL_CHARS = 4000
SERVICE = Principal("dispatcher", admin=True)
PINNED_ADDRESS = "AB_RAY_GCS_ADDRESS"  # the Ray job's driver joins this cluster (workers.cluster reads it)
LEASE_WATCH_SECONDS = 5.0  # longest pause between a driver's checks that its attempt is still the live one


def submission_id(job_id: str, attempt: int) -> str:
    return f"{job_id}-a{attempt}"


def ray_job_metadata(job: JobRecord, attempt: int, api_url: str) -> dict[str, str]:
    """What the Ray dashboard shows of the service's job: `job_name` in its Jobs list (the spec's name, else
    method and kind), the rest on the job's page."""
    spec = job.spec
    method = method_name(spec) or "-"
    return {
        "job_name": spec.get("name") or f"{method} {job.kind}",
        "ab_job_id": job.id,
        "ab_kind": job.kind,
        "ab_method": method,
        "ab_owner": job.owner,
        "ab_attempt": str(attempt),
        "ab_job_url": f"{api_url.rstrip('/')}/v1/jobs/{job.id}",
    }


class Dispatcher:
    """One dispatcher process (or thread, in `abs serve`); `dispatcher_id` must be stable across restarts."""

    def __init__(self, plane: ControlPlane, ray: RayJobs):
        self.plane, self.ray = plane, ray
        settings = plane.settings
        self.id = settings.dispatcher_id
        self.lease_seconds = settings.lease_seconds
        self._next_reconcile = self._next_sweep = self._next_heartbeat = 0.0
        self._stopping: set[str] = set()  # submission ids we asked Ray to stop

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set; a failing pass is logged and the next one tries again."""
        log.info("dispatcher %s: Ray at %s, workers call %s", self.id, self.ray.address,
                 self.plane.settings.api_url)  # fmt: skip
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # noqa: BLE001  (the loop must survive anything one pass does)
                log.exception("dispatcher pass failed")
            for signal in self.plane.bus.wait_for_signals(self.plane.settings.dispatch_poll_seconds):
                if signal.kind == "cancel":
                    self._next_reconcile = 0.0

    def step(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self.sweep()
            self._next_sweep = now + self.plane.settings.sweep_seconds
        if now >= self._next_reconcile:
            heartbeat = now >= self._next_heartbeat
            self.reconcile(heartbeat)
            interval = self.plane.settings.reconcile_seconds
            self._next_reconcile = now + (min(interval, 0.5) if self._stopping else interval)  # cancels: soon
            if heartbeat:
                self._next_heartbeat = now + self.lease_seconds / 3
        self.dispatch()

    # -- 1. dispatch ------------------------------------------------------------------------------------

    def dispatch(self) -> list[Claim]:
        queued = self.plane.queue.queued(limit=100)
        if not queued:
            return []
        with self.plane.db.read() as session:
            gated = gate(session, queued)
        self._fail_doomed(gated.doomed)
        queued = gated.ready
        if not queued:
            return []
        try:
            cluster = self.ray.resources()
        except RayUnavailableError as error:
            log.warning("not dispatching: %s", error)
            return []
        total, free = room(cluster, self.plane.queue.running())
        waiting = [Waiting(job.id, Demand.of_spec(job.spec), job.created_at) for job in queued]
        reserve_after = timedelta(seconds=self.plane.settings.reserve_after_seconds)
        placement = place(waiting, free, total, utcnow(), reserve_after)
        self._fail_unschedulable(queued, placement.too_big, total)
        claims = self.plane.queue.claim(self.id, job_ids=placement.start) if placement.start else []
        by_id = {job.id: job for job in queued}
        for claim in claims:
            self.submit(claim, by_id[claim.job_id])
        return claims

    def submit(self, claim: Claim, job: JobRecord) -> None:
        settings = self.plane.settings
        env = {
            "AB_API_URL": settings.api_url,
            "AB_JOB_TOKEN": claim.worker_token,
            "AB_LEASE_WATCH_SECONDS": f"{min(LEASE_WATCH_SECONDS, self.lease_seconds / 3):g}",
        }
        if settings.ray_gcs_address:
            env[PINNED_ADDRESS] = settings.ray_gcs_address
        name = submission_id(claim.job_id, claim.attempt)
        try:
            self.ray.submit(
                name,
                f"{settings.worker_entrypoint} {claim.job_id}",
                env,
                metadata=ray_job_metadata(job, claim.attempt, settings.api_url),
            )
        except RayUnavailableError as error:
            self._fail(claim.job_id, claim.attempt, f"could not submit Ray job {name}: {error}", retry=True)
            return
        log.info("submitted %s", name)

    def _fail_doomed(self, doomed: list[tuple[JobRecord, str]]) -> None:
        """Jobs whose `from_job` failed, was cancelled or is gone: they fail with that reason, untried."""
        reasons = dict((job.id, reason) for job, reason in doomed)
        for claim in self.plane.queue.claim(self.id, job_ids=list(reasons)) if reasons else []:
            self._fail(claim.job_id, claim.attempt, reasons[claim.job_id], retry=False)

    def _fail_unschedulable(self, queued: list[JobRecord], too_big: list[str], total: Demand) -> None:
        """A job larger than the whole cluster fails once it has waited `unschedulable_seconds`."""
        patience = timedelta(seconds=self.plane.settings.unschedulable_seconds)
        overdue = [job for job in queued if job.id in too_big and utcnow() - job.created_at >= patience]
        for claim in self.plane.queue.claim(self.id, job_ids=[job.id for job in overdue]) if overdue else []:
            needs = Demand.of_spec(claim.spec)
            error = (f"the job needs {needs} at once; the Ray cluster has {total} in total "
                     f"(waited {patience.total_seconds():g} s for it to grow); lower resources.workers, "
                     "resources.gpus_per_worker or resources.cpus_per_worker")  # fmt: skip
            self._fail(claim.job_id, claim.attempt, error, retry=False)

    # -- 2. reconcile -----------------------------------------------------------------------------------

    def reconcile(self, heartbeat: bool = True) -> None:
        for job in self.plane.queue.running():
            if job.lease_owner != self.id:
                continue  # another dispatcher's, or the burst worker's: the reaper watches those
            try:
                self.reconcile_job(job, heartbeat)
            except RayUnavailableError as error:
                log.warning("cannot reconcile %s: %s", job.id, error)
            except (ConflictError, NotFoundError) as error:  # it changed under us: a worker finished it
                log.debug("reconcile %s: %s", job.id, error)

    def reconcile_job(self, job: JobRecord, heartbeat: bool) -> None:
        cancel = job.cancel_requested
        if heartbeat:
            cancel = self.plane.queue.heartbeat(job.id, job.attempt, self.id).cancel_requested
        name = submission_id(job.id, job.attempt)
        info = self.ray.info(name)
        if cancel and (info is None or info.terminal):
            ended = info.status if info else "unknown to Ray"
            self.plane.queue.mark_cancelled(job.id, job.attempt, f"cancelled; Ray job {name} {ended}")
            self._stopping.discard(name)
        elif info is None:
            lost = f"Ray has no job {name} (never submitted, or the Ray cluster restarted)"
            self._fail(job.id, job.attempt, lost, retry=True)
        elif cancel:
            if name not in self._stopping:
                self.ray.stop(name)
                self._stopping.add(name)
        elif info.terminal:
            self._fail(job.id, job.attempt, ended_without_result(info), retry=True)

    def _fail(self, job_id: str, attempt: int, error: str, *, retry: bool) -> None:
        try:
            job = self.plane.queue.fail(job_id, attempt, error, retry=retry)
        except (ConflictError, NotFoundError) as refused:  # the worker's own result got there first
            log.debug("not failing %s: %s", job_id, refused)
            return
        log.warning("%s attempt %s: %s -> %s", job_id, attempt, error.splitlines()[0], job.state.value)

    # -- 3. sweep ---------------------------------------------------------------------------------------

    def sweep(self) -> list[str]:
        """Stop every live Ray job whose attempt SQL no longer runs; returns their submission ids."""
        try:
            live = [info for info in self.ray.jobs() if not info.terminal]
        except RayUnavailableError as error:
            log.warning("cannot sweep Ray jobs: %s", error)
            return []
        stopped = []
        for info in live:
            match = SUBMISSION_ID.match(info.submission_id)
            if match is None:
                continue
            try:
                job = self.plane.jobs.get(SERVICE, match["job_id"])
            except NotFoundError:
                continue  # not a job of this service's database
            if job.state is JobState.RUNNING and job.attempt == int(match["attempt"]):
                continue
            self.ray.stop(info.submission_id)
            stopped.append(info.submission_id)
            log.warning("stopped stale Ray job %s (SQL: attempt %s %s)", info.submission_id, job.attempt,
                        job.state.value)  # fmt: skip
        return stopped


def ended_without_result(info: RayJobInfo) -> str:
    """The error of an attempt whose driver ended before posting: an infrastructure failure, retried."""
    tail = info.message[-LOG_TAIL_CHARS:]
    code = f" (exit code {info.driver_exit_code})" if info.driver_exit_code is not None else ""
    return f"Ray job {info.submission_id} ended {info.status}{code} without posting a result:\n{tail}"
