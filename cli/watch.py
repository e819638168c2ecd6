"""`abs watch`: a job's progress bar, labelled with its spec's name and short id, timed from when it ran.

While the job is queued no event arrives, so the job is polled and why it waits is printed; once it runs,
its event stream feeds the bar, and state changes, logs and an evaluation's per-category lines print above.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from ab_core.raw_specs import method_name
from cli.api import TERMINAL, Client
from cli.console import console, print_json

QUEUED_POLL_SECONDS = 2.0


def method_of(spec: dict[str, Any]) -> str:
    """A job's method; a sweep's is its trial's."""
    return method_name(spec) or "-"


def label(job: dict[str, Any]) -> str:
    """`<spec name> (<short id>)`: the name, else method and kind; the id's random tail (UUIDv7 ids made
    the same minute share their head)."""
    name = job["spec"].get("name") or f"{method_of(job['spec'])} {job['kind']}"
    return f"{name} ({job['id'][-8:]})"


def timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class SinceRunning(ProgressColumn):
    """Time since the job's attempt started running (not since it was submitted), frozen once it ended."""

    def render(self, task: Task) -> Text:
        start, end = task.fields.get("running_at"), task.fields.get("ended_at")
        if start is None:
            return Text("-:--:--", style="progress.elapsed")
        seconds = ((end or datetime.now(timezone.utc)) - start).total_seconds()
        return Text(str(timedelta(seconds=max(0, int(seconds)))), style="progress.elapsed")


def _numbers(metrics: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
                     if isinstance(v, int | float) and not isinstance(v, bool))  # fmt: skip


def watch(api: Client, job_id: str) -> int:
    """Follow the job to its end on stderr, then print its final state, result and error as JSON on
    stdout. Exit 0 only if it succeeded."""
    job = api.job(job_id)
    name = label(job)
    status = TextColumn("{task.fields[state]}  {task.fields[numbers]}", markup=False)
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
               SinceRunning(), status)  # fmt: skip
    with Progress(*columns, console=console(stderr=True)) as progress:
        task = progress.add_task(name, total=None, state="", numbers="", running_at=None, ended_at=None)

        def say(line: str) -> None:
            progress.console.print(f"{name}: {line}", markup=False, highlight=False)

        reason = None
        while job["state"] == "queued":
            waiting = (job.get("waiting") or {}).get("reason") or "queued"
            if waiting != reason:
                say(f"queued: {waiting}")
                reason = waiting
            progress.update(task, state="queued")
            time.sleep(QUEUED_POLL_SECONDS)
            job = api.job(job_id)
        for event in api.stream(job_id):
            data = event.get("data") or {}
            if event["kind"] == "progress" and data.get("step") is None:  # an evaluation's category
                say(_numbers(data.get("metrics") or {}))
            elif event["kind"] == "progress":
                metrics = data.get("metrics") or {}
                shown = _numbers({k: v for k, v in metrics.items() if isinstance(v, float)})
                progress.update(task, completed=data["step"], total=data.get("total_steps"), numbers=shown)
                if metrics.get("warning"):
                    say(f"warning: {metrics['warning']}")
            elif event["kind"] == "state":
                state = data.get("state")
                error = f": {data['error'].splitlines()[0]}" if data.get("error") else ""
                say(f"{state} (attempt {event.get('attempt')}){error}")
                at = timestamp(event["created_at"])
                if state in ("running", "queued"):  # queued again: a retry starts its own clock
                    progress.update(
                        task, running_at=at if state == "running" else None, ended_at=None, state=state
                    )
                elif state in TERMINAL:
                    progress.update(task, ended_at=at, state=state)
            elif event["kind"] == "log":
                say(str(data.get("message", data)))
    job = api.job(job_id)
    print_json({key: job[key] for key in ("id", "state", "attempt", "result", "error")})
    return 0 if job["state"] == "succeeded" else 1
