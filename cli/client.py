"""`abs submit | status | watch | cancel | logs | jobs | artifacts`: the REST API from the shell (a spec
file may be a job or a sweep), through the Python client `cli.api.Client`.

The server URL and API token come from --url / --token or AB_URL / AB_TOKEN (default http://127.0.0.1:8000).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cli.api import DEFAULT_URL, TERMINAL, Client, ClientError, absolute_paths
from cli.console import print_json, show, table
from cli.watch import method_of, timestamp, watch

__all__ = ["ClientError", "TERMINAL", "absolute_paths", "api_command", "method_of", "watch"]

LOG_POLL_SECONDS = 2.0


def api_command(
    commands: argparse._SubParsersAction, name: str, help: str, handler: Any
) -> argparse.ArgumentParser:
    """A subcommand that calls the API: with --url and --token."""
    parser = commands.add_parser(name, help=help)
    parser.add_argument("--url", default=os.environ.get("AB_URL", DEFAULT_URL),
                        help=f"the API (default: $AB_URL or {DEFAULT_URL})")  # fmt: skip
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
    command("status", "print a job as JSON (a queued one: why it waits, on stderr)", job_status).add_argument(
        "job_id"
    )
    command("watch", "follow a job live (progress bar), then print its result", watch_job).add_argument(
        "job_id"
    )
    command("cancel", "cancel a job", cancel_job).add_argument("job_id")
    logs = command("logs", "print the Ray job log of a job's attempt", job_logs)
    logs.add_argument("job_id")
    logs.add_argument("--attempt", type=int, help="default: the latest")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    jobs = command("jobs", "list your jobs, newest first", list_jobs)
    jobs.add_argument("--state", choices=["queued", "running", *TERMINAL])
    jobs.add_argument("--parent", help="a sweep's id: list its trials")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--json", action="store_true", help="the jobs as the API returns them")
    artifacts = command("artifacts", "list the files a job produced, or download them", job_artifacts)
    artifacts.add_argument("job_id")
    artifacts.add_argument("--download", type=Path, metavar="DIR", help="save every file under DIR")


def _api(args: argparse.Namespace) -> Client:
    return Client(args.url, args.token)


def submit_job(args: argparse.Namespace) -> int:
    api = _api(args)
    job = api.submit(args.spec, priority=args.priority)
    print(job["id"])
    return watch(api, job["id"]) if args.watch else 0


def job_status(args: argparse.Namespace) -> int:
    job = _api(args).job(args.job_id)
    print_json(job)
    if job.get("waiting"):
        print(f"{job['id']}: queued: {job['waiting']['reason']}", file=sys.stderr)
    return 0


def cancel_job(args: argparse.Namespace) -> int:
    job = _api(args).cancel(args.job_id)
    print(f"{job['id']}: {job['state']}" + (" (cancel requested)" if job["cancel_requested"] else ""))
    return 0


def job_logs(args: argparse.Namespace) -> int:
    api = _api(args)
    if not args.follow:
        sys.stdout.write(api.logs(args.job_id, args.attempt)["logs"])
        return 0
    follow_logs(api, args.job_id, args.attempt)
    return 0


def follow_logs(api: Client, job_id: str, attempt: int | None = None) -> None:
    """Print the log as it grows, each attempt in turn (or only `attempt`), until the job ends."""
    printed: dict[int, int] = {}  # attempt -> characters already printed
    said = None
    while True:
        job = api.job(job_id)  # read before the log: a terminal state means the log fetched next is whole
        current = attempt or job["attempt"]
        if job["state"] == "queued" and (reason := (job.get("waiting") or {}).get("reason")) != said:
            print(f"{job_id}: queued: {reason}", file=sys.stderr)
            said = reason
        if current and current <= job["attempt"]:
            if printed and current not in printed:
                print(f"--- attempt {current} ---", flush=True)
            text = _log_or_none(api, job_id, current)
            if text is not None:
                sys.stdout.write(text[printed.get(current, 0) :])
                sys.stdout.flush()
                printed[current] = len(text)
        if job["state"] in TERMINAL or (attempt is not None and job["attempt"] > attempt):
            return
        time.sleep(LOG_POLL_SECONDS)


def _log_or_none(api: Client, job_id: str, attempt: int) -> str | None:
    """None while Ray does not know the attempt's job yet (it is being submitted) or does not answer (the
    next poll asks again; the job's state still ends the loop)."""
    try:
        return str(api.logs(job_id, attempt)["logs"])
    except ClientError as error:
        if error.status in (404, 503):
            return None
        raise


def duration(job: dict[str, Any]) -> str:
    """How long it ran (so far): from started_at to finished_at, or to now."""
    if not job.get("started_at"):
        return "-"
    end = timestamp(job["finished_at"]) if job.get("finished_at") else datetime.now(timezone.utc)
    seconds = max(0, int((end - timestamp(job["started_at"])).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    if hours:
        return f"{hours}h{rest // 60:02d}m"
    return f"{rest // 60}m{rest % 60:02d}s" if rest >= 60 else f"{rest}s"


def _steps(progress: dict[str, Any]) -> str:
    step, total = progress.get("step"), progress.get("total_steps")
    return "-" if step is None else f"{step}/{total}" if total else str(step)


def list_jobs(args: argparse.Namespace) -> int:
    jobs = _api(args).jobs(state=args.state, parent=args.parent, limit=args.limit)
    if args.json:
        print_json(jobs)
        return 0
    with_params = any(job.get("params") for job in jobs)
    grid = table("id", "state", "name", "kind", "method", "attempt", "step", "duration", "created",
                 *(["params"] if with_params else []), right=("attempt", "step", "duration"))  # fmt: skip
    grid.columns[0].min_width = 36  # a whole id, to copy
    for job in jobs:
        cells = [job["id"], job["state"], job["spec"].get("name") or "-", job["kind"], method_of(job["spec"]),
                 f"{job['attempt']}/{job['max_attempts']}", _steps(job.get("progress") or {}), duration(job),
                 timestamp(job["created_at"]).strftime("%Y-%m-%d %H:%M:%S")]  # fmt: skip
        grid.add_row(*cells, *([json.dumps(job.get("params") or {})] if with_params else []))
    show(grid)
    return 0


def job_artifacts(args: argparse.Namespace) -> int:
    api = _api(args)
    artifacts = api.artifacts(args.job_id)
    if args.download is not None:
        for artifact in artifacts:
            print(api.download(args.job_id, artifact, args.download))
        return 0
    grid = table("id", "name", "kind", "attempt", "bytes", "created", right=("id", "attempt", "bytes"))
    for a in artifacts:
        size = "-" if a["size_bytes"] is None else f"{a['size_bytes']:,}"
        created = timestamp(a["created_at"]).strftime("%Y-%m-%d %H:%M:%S")
        grid.add_row(str(a["id"]), a["name"], a["kind"], str(a["attempt"]), size, created)
    show(grid)
    return 0


def watch_job(args: argparse.Namespace) -> int:
    return watch(_api(args), args.job_id)
