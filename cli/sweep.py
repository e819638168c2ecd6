"""`abs sweep SPEC`: submit a sweep, follow it (trials done / total), then print its trials and the best."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cli.api import Client, ClientError, read_spec
from cli.client import _api, api_command, watch


def add_commands(commands: argparse._SubParsersAction) -> None:
    sweep = api_command(commands, "sweep", "submit a sweep spec, follow it, print the trials and the best",
                        run_sweep)  # fmt: skip
    sweep.add_argument("spec", type=Path)
    sweep.add_argument("--priority", type=int, default=0)
    sweep.add_argument("--no-watch", dest="watch", action="store_false", help="print the id and return")


def run_sweep(args: argparse.Namespace) -> int:
    raw = read_spec(args.spec)
    if raw.get("kind") != "sweep":
        raise ClientError(f"{args.spec} is not a sweep (kind: sweep); submit a job with `abs submit`")
    api = _api(args)
    job = api.submit(raw, priority=args.priority)
    print(job["id"])
    if not args.watch:
        return 0
    code = watch(api, job["id"])
    print(trials_table(api, job["id"]), end="")
    return code


def trials_table(api: Client, sweep_id: str) -> str:
    """One line per trial: id, state, its parameters, and its final (or last) objective numbers."""
    sweep = api.job(sweep_id)
    best = ((sweep.get("result") or {}).get("best") or {}).get("job_id")
    metric = (sweep.get("result") or {}).get("metric") or "loss"
    lines = []
    for trial in api.jobs(parent=sweep_id, limit=200):
        value = _metric(trial, metric)
        note = " (stopped early)" if (trial.get("result") or {}).get("stopped_early") else ""
        marker = "*" if trial["id"] == best else " "
        lines.append(f"{marker} {trial['id']}  {trial['state']:<9}  {json.dumps(trial.get('params') or {})}  "
                     f"{metric}={value}{note}")  # fmt: skip
    return "".join(f"{line}\n" for line in reversed(lines))  # oldest first


def _metric(trial: dict[str, Any], metric: str) -> str:
    result = trial.get("result") or {}
    for source in (result.get("evaluation", {}).get("mean"), result.get("metrics"), result):
        if isinstance(source, dict) and isinstance(source.get(metric), int | float):
            return f"{source[metric]:.4g}"
    return "-"
