"""The one place the control plane talks to Ray: the Ray Jobs REST API of the dashboard, over plain HTTP.

Plain `httpx` instead of `ray.job_submission.JobSubmissionClient` (which is itself a thin HTTP client):
`services` stays free of `ray` (the API and dispatcher images need no Ray install, no version lock-step
with the cluster, and no 1-2 s `import ray`), and the API can fetch a job's log with the same client.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.errors import ServiceError

TERMINAL_STATUSES = frozenset({"STOPPED", "SUCCEEDED", "FAILED"})


class RayUnavailableError(ServiceError):
    """The Ray dashboard did not answer, refused our token, or answered with an error."""


@dataclass(frozen=True)
class RayJobInfo:
    """What Ray knows about one submission: PENDING, RUNNING, STOPPED, SUCCEEDED or FAILED."""

    submission_id: str
    status: str
    message: str
    driver_exit_code: int | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class ClusterResources:
    """Totals and what Ray's autoscaler monitor last saw in use, per resource name (CPU, GPU)."""

    total: dict[str, float]
    used: dict[str, float]

    def available(self, name: str) -> float:
        return self.total.get(name, 0.0) - self.used.get(name, 0.0)


def read_ray_token(explicit: str | None = None) -> str | None:
    """The cluster's auth token: the argument, else RAY_AUTH_TOKEN, else ~/.ray/auth_token, else None."""
    if explicit:
        return explicit
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"]
    path = Path.home() / ".ray" / "auth_token"
    if not path.is_file():
        return None
    return path.read_text().strip() or None


class RayJobs:
    """Submit, inspect, stop and read the logs of Ray jobs; read the cluster's resources."""

    def __init__(self, address: str, token: str | None = None, timeout: float = 10.0):
        self.address = address.rstrip("/")
        token = read_ray_token(token)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.address, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise RayUnavailableError(f"Ray dashboard at {self.address} unreachable: {error!r}") from error
        if response.status_code in (401, 403):
            raise RayUnavailableError(
                f"Ray dashboard at {self.address} refused the token ({response.text.strip()[:200]}); "
                "set AB_RAY_AUTH_TOKEN or RAY_AUTH_TOKEN to the cluster's token"
            )
        return response

    def submit(
        self,
        submission_id: str,
        entrypoint: str,
        env_vars: dict[str, str],
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Start `entrypoint` as the Ray job `submission_id`; resubmitting an existing id raises."""
        body = {
            "entrypoint": entrypoint,
            "submission_id": submission_id,
            "runtime_env": {"env_vars": env_vars},
            "metadata": metadata or {},
            "entrypoint_num_cpus": 0,  # the driver only waits on the trainer, whose workers hold the CPUs
        }
        response = self._call("POST", "/api/jobs/", json=body)
        if response.status_code != 200:
            raise RayUnavailableError(
                f"Ray refused submission {submission_id!r} ({response.status_code}): "
                f"{response.text.strip()[-500:]}"
            )

    def info(self, submission_id: str) -> RayJobInfo | None:
        """The job's status, or None when Ray does not know it (never submitted, or the cluster restarted)."""
        response = self._call("GET", f"/api/jobs/{submission_id}")
        if response.status_code == 404:
            return None
        _check(response, f"status of {submission_id}")
        return _job_info(response.json())

    def jobs(self) -> list[RayJobInfo]:
        """Every submission the cluster remembers."""
        response = self._call("GET", "/api/jobs/")
        _check(response, "the job list")
        return [_job_info(item) for item in response.json() if item.get("submission_id")]

    def stop(self, submission_id: str) -> bool:
        """Ask Ray to stop the job (SIGTERM, then SIGKILL); False when it had already ended or is unknown."""
        response = self._call("POST", f"/api/jobs/{submission_id}/stop")
        if response.status_code == 404:
            return False
        _check(response, f"stop of {submission_id}")
        return bool(response.json().get("stopped"))

    def logs(self, submission_id: str) -> str | None:
        """The driver's whole log, or None when Ray does not know the job."""
        response = self._call("GET", f"/api/jobs/{submission_id}/logs")
        if response.status_code == 404:
            return None
        _check(response, f"logs of {submission_id}")
        return str(response.json().get("logs", ""))

    def resources(self) -> ClusterResources:
        """Totals and usage from the autoscaler monitor's report (refreshed by Ray every few seconds)."""
        response = self._call("GET", "/api/cluster_status")
        _check(response, "the cluster status")
        status = (response.json().get("data") or {}).get("clusterStatus") or {}
        usage = (status.get("loadMetricsReport") or {}).get("usage") or {}
        if not usage:
            raise RayUnavailableError(f"Ray at {self.address} has not reported its resources yet")
        return ClusterResources(
            total={name: float(pair[1]) for name, pair in usage.items()},
            used={name: float(pair[0]) for name, pair in usage.items()},
        )


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        raise RayUnavailableError(f"Ray answered {response.status_code} for {what}: {response.text[-300:]}")


def _job_info(item: dict[str, Any]) -> RayJobInfo:
    return RayJobInfo(
        submission_id=item["submission_id"],
        status=item["status"],
        message=item.get("message") or "",
        driver_exit_code=item.get("driver_exit_code"),
    )
