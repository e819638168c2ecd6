"""A burst-mode worker (as in rq): claim queued jobs and run them in this process until none is left.

For tests and single-machine use; production jobs go through the Ray dispatcher. The job function is
injected (normally `ab_core.runner.run`), so the control plane itself never imports the training code.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ab_core.specs import parse_spec
from services.plane import ControlPlane
from services.records import Claim, JobRecord
from services.worker_channel import WorkerLease

JobFunction = Callable[..., dict[str, Any]]  # run(spec, out_dir, report=...) -> result


class CancelledByUser(Exception):
    """Raised inside `report` when the job's cancel flag is set, to stop the job function."""


def progress_of(metrics: dict[str, Any]) -> dict[str, Any]:
    """Split a report into the progress shape the API shows: epoch, step, total_steps, metrics."""
    plain = {key: json_safe(value) for key, value in metrics.items()}
    shape = {key: plain.pop(key, None) for key in ("epoch", "step", "total_steps")}
    return {**shape, "metrics": plain}


def json_safe(value: Any) -> Any:
    """Plain JSON: tensors / numpy scalars unwrapped, NaN and inf as strings, anything else as str()."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # numpy / torch scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


class BurstWorker:
    """Claims one job at a time, runs it with `run_job`, reports progress and the outcome via the queue."""

    def __init__(self, plane: ControlPlane, run_job: JobFunction, worker_id: str = "burst-worker"):
        self.plane, self.run_job, self.worker_id = plane, run_job, worker_id

    def work(self, max_jobs: int | None = None) -> list[JobRecord]:
        """Run jobs until the queue is empty (or `max_jobs` ran); returns the finished jobs."""
        finished: list[JobRecord] = []
        while max_jobs is None or len(finished) < max_jobs:
            claims = self.plane.queue.claim(self.worker_id, limit=1)
            if not claims:
                break
            finished.append(self.run_claim(claims[0]))
        return finished

    def run_claim(self, claim: Claim) -> JobRecord:
        lease = WorkerLease(claim.job_id, claim.attempt, self.worker_id)
        channel = self.plane.workers
        out_dir = channel.job_dir(claim.job_id) / f"attempt-{claim.attempt}"

        def report(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
            channel.post_event(lease, "progress", progress_of(metrics))
            if metrics.get("warning"):  # a method's warning (e.g. a collapse), as a warning-level log event
                channel.post_event(lease, "log", {"level": "warning", "message": metrics["warning"]})
            if checkpoint_dir is not None:
                channel.post_event(lease, "checkpoint", {"path": str(checkpoint_dir)})
            if channel.heartbeat(lease).cancel_requested:
                raise CancelledByUser(claim.job_id)

        try:
            result = self.run_job(parse_spec(claim.spec), Path(out_dir), report=report)
        except CancelledByUser:
            return channel.finish(lease, "cancelled", error="cancelled while running")
        except Exception as error:  # noqa: BLE001  (a job's failure is recorded, not raised)
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            return channel.finish(lease, "failed", error=detail)
        return channel.finish(lease, "succeeded", result=json_safe(result))
