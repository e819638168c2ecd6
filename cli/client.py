"""`abs submit | status | watch | cancel | logs | jobs`: a thin client of the REST API (a spec file may
be a job or a sweep).

The server URL and API token come from --url / --token or AB_URL / AB_TOKEN (default http://127.0.0.1:8000).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ab_core.errors import AbError

TERMINAL = ("succeeded", "failed", "cancelled")


class ClientError(AbError):
    """The API refused a request, or could not be reached."""


def api_command(
    commands: argparse._SubParsersAction, name: str, help: str, handler: Any
) -> argparse.ArgumentParser:
    """A subcommand that calls the API: with --url and --token."""
    parser = commands.add_parser(name, help=help)
    parser.add_argument("--url", default=os.environ.get("AB_URL", "http://127.0.0.1:8000"),
                        help="the API (default: $AB_URL or http://127.0.0.1:8000)")  # fmt: skip
    parser.add_argument("--token", default=os.environ.get("AB_TOKEN"), help="API token (default: $AB_TOKEN)")
    parser.set_defaults(handler=handler)
    return parser


def add_commands(commands: argparse._SubParsersAction) -> None:
    def command(name: str, help: str, handler: Any) -> argparse.ArgumentParser:
        return api_command(commands, name, help, handler)

    submit = command("submit", "submit a spec file as a job and print its id", submit_job)
    submit.add_argument("spec", type=Path)
    submit.add_argument("--priority", type=int, default=0)
    submit.add_argument("--watch", action="store_true", help="then follow it like `abs watch`")
    command("status", "print a job as JSON", job_status).add_argument("job_id")
    command("watch", "follow a job live (progress bar), then print its result", watch_job).add_argument(
        "job_id"
    )
    command("cancel", "cancel a job", cancel_job).add_argument("job_id")
    logs = command("logs", "print the Ray job log of a job's attempt", job_logs)
    logs.add_argument("job_id")
    logs.add_argument("--attempt", type=int, help="default: the latest")
    jobs = command("jobs", "list your jobs, newest first", list_jobs)
    jobs.add_argument("--state", choices=["queued", "running", *TERMINAL])
    jobs.add_argument("--parent", help="a sweep's id: list its trials")
    jobs.add_argument("--limit", type=int, default=20)


class Api:
    def __init__(self, url: str, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ClientError(f"cannot reach the API at {self.url}: {error!r}") from None
        if response.status_code >= 400:
            raise ClientError(f"{method} {path}: {response.status_code} {_detail(response)}")
        return response.json()

    def events(self, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(kind, event) from the SSE stream until the server ends it after the terminal event."""
        kind, data = "", ""
        with self.http.stream("GET", f"/v1/jobs/{job_id}/stream", timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                raise ClientError(f"stream of {job_id}: {response.status_code} {_detail(response)}")
            for line in response.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif not line and data:
                    yield kind, json.loads(data)
                    kind, data = "", ""


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    problems = body.get("problems") or []
    return "\n".join([str(body.get("detail", body)), *(f"  - {p}" for p in problems)])


def _api(args: argparse.Namespace) -> Api:
    return Api(args.url, args.token)


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2))


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


def submit_job(args: argparse.Namespace) -> int:
    import yaml

    if not args.spec.is_file():
        raise ClientError(f"spec file {str(args.spec)!r} does not exist")
    raw = absolute_paths(yaml.safe_load(args.spec.read_text()), Path.cwd())
    job = _api(args).call("POST", "/v1/jobs", json={"spec": raw, "priority": args.priority})
    print(job["id"])
    return watch(_api(args), job["id"]) if args.watch else 0


def job_status(args: argparse.Namespace) -> int:
    _print(_api(args).call("GET", f"/v1/jobs/{args.job_id}"))
    return 0


def cancel_job(args: argparse.Namespace) -> int:
    job = _api(args).call("POST", f"/v1/jobs/{args.job_id}/cancel")
    print(f"{job['id']}: {job['state']}" + (" (cancel requested)" if job["cancel_requested"] else ""))
    return 0


def job_logs(args: argparse.Namespace) -> int:
    params = {"attempt": args.attempt} if args.attempt else {}
    sys.stdout.write(_api(args).call("GET", f"/v1/jobs/{args.job_id}/logs", params=params)["logs"])
    return 0


def list_jobs(args: argparse.Namespace) -> int:
    filters = {"state": args.state, "parent": args.parent}
    params: dict[str, Any] = {"limit": args.limit} | {k: v for k, v in filters.items() if v}
    for job in _api(args).call("GET", "/v1/jobs", params=params)["items"]:
        step = (job.get("progress") or {}).get("step")
        params_shown = "  " + json.dumps(job["params"]) if job.get("params") else ""
        print(f"{job['id']}  {job['state']:<9}  {job['kind']:<8}  {method_of(job['spec']):<12}  "
              f"attempt {job['attempt']}/{job['max_attempts']}  step {step if step is not None else '-'}  "
              f"{job['created_at']}{params_shown}")  # fmt: skip
    return 0


def method_of(spec: dict[str, Any]) -> str:
    """A job's method; a sweep's is its trial's."""
    return str((spec.get("method") or spec.get("trial", {}).get("method") or {}).get("method", "-"))


def watch_job(args: argparse.Namespace) -> int:
    return watch(_api(args), args.job_id)


def watch(api: Api, job_id: str) -> int:
    """A progress bar fed by the SSE stream; then the final job. Exit 0 only if it succeeded."""
    from tqdm import tqdm

    bar = tqdm(desc=job_id, unit="step", file=sys.stderr, total=None)
    try:
        for kind, event in api.events(job_id):
            data = event.get("data") or {}
            if kind == "progress" and data.get("step") is None:  # an evaluation's per-category results
                bar.write(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in (data.get("metrics") or {}).items()))  # fmt: skip
            elif kind == "progress":
                if data.get("total_steps"):
                    bar.total = data["total_steps"]
                bar.n = data.get("step") or bar.n
                bar.set_postfix(
                    {k: v for k, v in (data.get("metrics") or {}).items() if isinstance(v, float)}
                )
                bar.refresh()
            elif kind == "state":
                bar.write(f"{job_id}: {data.get('state')} (attempt {event.get('attempt')})"
                          + (f": {data['error'].splitlines()[0]}" if data.get("error") else ""))  # fmt: skip
            elif kind == "log":
                bar.write(str(data.get("message", data)))
    finally:
        bar.close()
    job = api.call("GET", f"/v1/jobs/{job_id}")
    _print({key: job[key] for key in ("id", "state", "attempt", "result", "error")})
    return 0 if job["state"] == "succeeded" else 1
