"""The Python client of the service's REST API, for scripts (the `abs` commands are built on it).

Example (tests/cli/test_api_client.py runs it against a served API)::

    from cli.api import Client

    with Client(url, token) as client:  # default: $AB_URL (else http://127.0.0.1:8000) and $AB_TOKEN
        job = client.submit(spec)  # a dict, or the path of a YAML / JSON spec file
        for event in client.stream(job["id"]):  # live; resumes with Last-Event-ID after a dropped connection
            print(event["seq"], event["kind"], event["data"])
        job = client.wait(job["id"])  # the final job: state, result, error
        files = client.artifacts(job["id"])
        saved = client.download(job["id"], files[0], "downloads")
        page = client.results(evaluator="padim")  # the leaderboard
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import SSEError, connect_sse

from ab_core.errors import AbError

TERMINAL = ("succeeded", "failed", "cancelled")
DEFAULT_URL = "http://127.0.0.1:8000"
RECONNECTS = 5  # reconnections in a row that bring no event before the stream gives up
RECONNECT_PAUSE_SECONDS = 1.0
QUIET_SECONDS = 60.0  # the server pings an idle stream every 15 s: this long without a byte is a drop
UNREACHABLE_SECONDS = 60.0  # `wait` rides out a busy or restarting API this long before it gives up
TRANSIENT_STATUSES = (502, 503, 504)  # a proxy or a restarting server: try again


class ClientError(AbError):
    """The API refused a request (`status`: its HTTP status), or could not be reached (`status` None)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Client:
    """One connection pool to the API; every call raises ClientError with the server's reason."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30.0):
        token = token or os.environ.get("AB_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = (url or os.environ.get("AB_URL") or DEFAULT_URL).rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; the JSON body of the answer."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ClientError(f"cannot reach the API at {self.url}: {error!r}") from None
        if response.status_code >= 400:
            raise ClientError(
                f"{method} {path}: {response.status_code} {detail(response)}", response.status_code
            )
        return response.json()

    # -- jobs -------------------------------------------------------------------------------------------

    def submit(
        self, spec: dict[str, Any] | str | Path, priority: int = 0, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Queue a job or a sweep: a spec mapping or a spec file (relative paths in it are taken from the
        current directory). Returns the queued job."""
        raw = read_spec(Path(spec)) if isinstance(spec, str | Path) else spec
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {"spec": absolute_paths(raw, Path.cwd()), "priority": priority}
        return self.call("POST", "/v1/jobs", json=body, headers=headers)  # type: ignore[no-any-return]

    def job(self, job_id: str) -> dict[str, Any]:
        """The job: state, progress, result, error and, while queued, `waiting` (why it has not started)."""
        return self.call("GET", f"/v1/jobs/{job_id}")  # type: ignore[no-any-return]

    def jobs(
        self, state: str | None = None, parent: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Your newest `limit` jobs (a sweep's trials with `parent`), newest first."""
        found: list[dict[str, Any]] = []
        cursor = None
        while len(found) < limit:
            params = {
                "state": state,
                "parent": parent,
                "cursor": cursor,
                "limit": min(limit - len(found), 200),
            }
            page = self.call("GET", "/v1/jobs", params={k: v for k, v in params.items() if v is not None})
            found += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        return found

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 1.0) -> dict[str, Any]:
        """Poll until the job is terminal and return it; ClientError after `timeout` seconds. A poll
        that cannot reach the API is retried (a service busy or restarting), for UNREACHABLE_SECONDS."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (job := self._poll(job_id, poll))["state"] not in TERMINAL:
            if deadline is not None and time.monotonic() >= deadline:
                raise ClientError(f"job {job_id} still {job['state']} after {timeout:g} s")
            time.sleep(poll)
        return job

    def _poll(self, job_id: str, pause: float) -> dict[str, Any]:
        """The job, retrying a dropped connection or a 502-504 for up to UNREACHABLE_SECONDS in a row."""
        give_up = time.monotonic() + UNREACHABLE_SECONDS
        while True:
            try:
                return self.job(job_id)
            except ClientError as error:
                if error.status not in (None, *TRANSIENT_STATUSES):
                    raise
                if time.monotonic() >= give_up:
                    raise ClientError(f"{error} (still failing after {UNREACHABLE_SECONDS:g} s of retries)",
                                      error.status) from None  # fmt: skip
            time.sleep(pause)

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.call("POST", f"/v1/jobs/{job_id}/cancel")  # type: ignore[no-any-return]

    def logs(self, job_id: str, attempt: int | None = None) -> dict[str, Any]:
        """The Ray driver log of one attempt (default: the latest): `{"attempt", "logs", ...}`."""
        params = {"attempt": attempt} if attempt else {}
        return self.call("GET", f"/v1/jobs/{job_id}/logs", params=params)  # type: ignore[no-any-return]

    def results(self, **filters: Any) -> dict[str, Any]:
        """The leaderboard page (filters as `abs results`: dataset, evaluator, method, category, sort)."""
        return self.call("GET", "/v1/results", params=filters)  # type: ignore[no-any-return]

    # -- events -----------------------------------------------------------------------------------------

    def stream(self, job_id: str, after: int = 0) -> Iterator[dict[str, Any]]:
        """The job's events after seq `after` (`{"seq", "attempt", "kind", "data", "created_at"}`), live,
        until the one that makes the job terminal. A dropped connection is resumed with `Last-Event-ID`:
        no event is lost or repeated."""
        last, reconnects = after, 0
        while True:
            try:
                for kind, seq, event in self._connect(job_id, last):
                    if kind == "end":
                        return
                    if seq <= last:
                        continue  # a server that resent what we had
                    last, reconnects = seq, 0
                    yield event
                    if event["kind"] == "state" and event["data"].get("state") in TERMINAL:
                        return
            except (httpx.TransportError, SSEError) as error:
                dropped: object = error
            else:
                dropped = "the server closed the stream before the job ended"
            reconnects += 1
            if reconnects > RECONNECTS:
                raise ClientError(f"stream of {job_id} dropped {RECONNECTS + 1} times after event {last}: "
                                  f"{dropped!r}")  # fmt: skip
            time.sleep(RECONNECT_PAUSE_SECONDS)

    def _connect(self, job_id: str, last: int) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """(event name, seq, event) of one connection of the stream, from after `last`."""
        headers = {"Last-Event-ID": str(last)} if last else {}
        timeout = httpx.Timeout(self.http.timeout.connect, read=QUIET_SECONDS)
        path = f"/v1/jobs/{job_id}/stream"
        with connect_sse(self.http, "GET", path, headers=headers, timeout=timeout) as source:
            if source.response.status_code >= 400:
                source.response.read()
                raise ClientError(
                    f"stream of {job_id}: {source.response.status_code} {detail(source.response)}"
                )
            for sse in source.iter_sse():
                if sse.event == "end":
                    yield "end", last, {}
                elif sse.data and sse.id:
                    yield sse.event, int(sse.id), sse.json()

    # -- artifacts --------------------------------------------------------------------------------------

    def artifacts(self, job_id: str) -> list[dict[str, Any]]:
        """The files a job produced: `{"id", "name", "kind", "attempt", "size_bytes", ...}` each."""
        return self.call("GET", f"/v1/jobs/{job_id}/artifacts")  # type: ignore[no-any-return]

    def download(self, job_id: str, artifact: dict[str, Any], folder: str | Path) -> Path:
        """Save one artifact (an item of `artifacts`) as `folder/<its name>`; returns the path."""
        folder = Path(folder).resolve()
        target = (folder / artifact["name"]).resolve()
        if folder not in target.parents:
            raise ClientError(f"artifact name {artifact['name']!r} of job {job_id} points outside {folder}")
        target.parent.mkdir(parents=True, exist_ok=True)
        url = f"/v1/jobs/{job_id}/artifacts/{artifact['id']}/download"
        try:
            with self.http.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ClientError(f"GET {url}: {response.status_code} {detail(response)}")
                with target.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as error:
            raise ClientError(f"cannot download {artifact['name']!r} from {self.url}: {error!r}") from None
        return target


def detail(response: httpx.Response) -> str:
    """The server's reason: its `detail`, then each bad field on its own line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    problems = body.get("problems") or []
    return "\n".join([str(body.get("detail", body)), *(f"  - {p}" for p in problems)])


def read_spec(path: Path) -> dict[str, Any]:
    """The mapping in a YAML / JSON spec file (yaml alone: a script need not import torch to submit)."""
    import yaml

    if not path.is_file():
        raise ClientError(f"spec file {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as error:
        where, started = _place(error.problem_mark), _place(error.context_mark)
        context = f" ({error.context}{' at ' + started if started else ''})" if error.context else ""
        raise ClientError(f"{path}{', ' + where if where else ''}: not valid YAML or JSON: {error.problem}"
                          f"{context}") from None  # fmt: skip
    except yaml.YAMLError as error:
        raise ClientError(f"{path}: not valid YAML or JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ClientError(f"{path}: a spec is a mapping, got {type(raw).__name__}")
    return raw


def _place(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def absolute_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """The server needs absolute paths: data.root and a checkpoint backbone.weights, relative to `base`
    (in a sweep: those of its trial and evaluation specs)."""
    if raw.get("kind") == "sweep":
        stages = {key: absolute_paths(raw[key], base) for key in ("trial", "evaluate") if raw.get(key)}
        return {**raw, **stages}
    data = dict(raw.get("data") or {})
    if data.get("root") and not Path(data["root"]).expanduser().is_absolute():
        data["root"] = str((base / data["root"]).resolve())
    backbone = dict(raw.get("backbone") or {})
    weights = backbone.get("weights")
    if weights not in (None, "none", "imagenet") and not Path(weights).expanduser().is_absolute():
        backbone["weights"] = str((base / weights).resolve())
    return {**raw, **({"data": data} if data else {}), **({"backbone": backbone} if backbone else {})}
