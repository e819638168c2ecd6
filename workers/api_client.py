"""The worker's side of the internal API: read its job, post progress and results, register artifacts.

Every call carries the job-scoped token the dispatcher handed to this attempt (AB_JOB_TOKEN); the API
refuses it once the attempt is no longer the live one, so a stale worker cannot change the job.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, replace
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)
ATTEMPTS = 6  # the call and 5 retries, pausing 1 + 2 + 4 + 8 + 15 s: time for an API to restart
LONGEST_PAUSE = 15.0


class WorkerApiError(RuntimeError):
    """The API refused (`status`: its HTTP status) or did not answer (`status` None) a worker call."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status

    @property
    def transient(self) -> bool:
        """Worth another try: no answer, too many requests, or a server error; never another 4xx."""
        return self.status is None or self.status == 429 or self.status >= 500


@dataclass(frozen=True)
class WorkerApi:
    """Picklable (plain fields, a client per call): it also travels to the Ray Train controller."""

    api_url: str
    job_id: str
    token: str
    timeout: float = 30.0
    retry: bool = True
    backoff: float = 1.0  # the first retry's pause; each next one doubles, up to LONGEST_PAUSE

    @classmethod
    def from_env(cls, job_id: str) -> WorkerApi:
        missing = [name for name in ("AB_API_URL", "AB_JOB_TOKEN") if not os.environ.get(name)]
        if missing:
            raise WorkerApiError(f"{', '.join(missing)} not set: the dispatcher passes both to every Ray job")
        return cls(os.environ["AB_API_URL"].rstrip("/"), job_id, os.environ["AB_JOB_TOKEN"])

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call; an API that is down, restarting or overloaded (no answer, 429, 5xx) is tried again with
        exponential backoff, ATTEMPTS times in all (once with `retry=False`); any other refusal at once."""
        retrying = Retrying(
            stop=stop_after_attempt(ATTEMPTS if self.retry else 1),
            wait=wait_exponential(multiplier=self.backoff, max=LONGEST_PAUSE),
            retry=retry_if_exception(lambda error: isinstance(error, WorkerApiError) and error.transient),
            reraise=True,  # the last WorkerApiError, not tenacity's RetryError
        )
        return retrying(self._send, method, f"{self.api_url}/v1/internal/jobs/{self.job_id}{path}", body)

    def _send(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            response = httpx.request(method, url, json=body, headers=headers, timeout=self.timeout)
        except httpx.TransportError as error:
            raise WorkerApiError(f"{method} {url} failed: {error!r}") from error
        if response.status_code >= 400:
            detail = f"{method} {url} answered {response.status_code}: {response.text[:500]}"
            raise WorkerApiError(detail, response.status_code)
        return response.json()  # type: ignore[no-any-return]

    def for_job(self, job_id: str) -> WorkerApi:
        """The same token on a child job (a sweep's trial): the API accepts the root's live token."""
        return replace(self, job_id=job_id)

    def open_child(
        self, key: str, spec: dict[str, Any], params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """{id, state, result} of this job's child `key`, created running on the first call."""
        return self._call("POST", "/children", {"key": key, "spec": spec, "params": json_safe(params)})

    def job(self) -> dict[str, Any]:
        """{id, attempt, state, spec, storage_dir, dataset_roots, cancel_requested}"""
        return self._call("GET", "")

    def post_event(self, kind: str, data: dict[str, Any]) -> None:
        self._call("POST", "/events", {"kind": kind, "data": json_safe(data)})

    def finish(self, state: str, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        body = {"state": state, "result": json_safe(result) if result is not None else None, "error": error}
        self._call("POST", "/result", body)

    def register_artifact(self, name: str, kind: str, path: str) -> None:
        self._call("POST", "/artifacts", {"name": name, "kind": kind, "path": path})


class ApiProgress:
    """The trainer's progress callback: runs in the Ray Train controller, posts rank 0's reports."""

    def __init__(self, api: WorkerApi):
        self.api = replace(api, retry=False)  # a report waits for us: never stall training on the API

    def __call__(self, metrics: dict[str, Any], checkpoint_path: str | None) -> None:
        try:  # best effort: losing a progress line must not stop the training
            self.api.post_event("progress", progress_of(metrics))
            if metrics.get("warning"):  # a method's warning (e.g. a collapse), as a warning-level log event
                self.api.post_event("log", {"level": "warning", "message": metrics["warning"]})
            if checkpoint_path is not None:
                self.api.post_event("checkpoint", {"path": checkpoint_path})
        except WorkerApiError as error:
            log.warning("progress not posted: %s", error)


def progress_of(metrics: dict[str, Any]) -> dict[str, Any]:
    """The API's progress shape: epoch, step, total_steps, and every other number under metrics."""
    plain = {key: value for key, value in metrics.items() if key != "worker_pid"}
    shape = {key: plain.pop(key, None) for key in ("epoch", "step", "total_steps")}
    return {**shape, "metrics": plain}


def json_safe(value: Any) -> Any:
    """Plain JSON: numpy / torch scalars unwrapped, NaN and inf as strings, anything else as str()."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)
