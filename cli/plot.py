"""`abs plot ID...`: one metric of several jobs over steps in one picture (from their `/metrics`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.client import ClientError, _api, api_command
from cli.watch import label


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = api_command(commands, "plot", "draw several jobs' curves of one metric in one PNG", plot_jobs)
    parser.add_argument("job_ids", nargs="+", metavar="ID", help="the jobs (pretrainings, sweep trials)")
    parser.add_argument("--metric", default="loss", help="the metric over steps (default: loss)")
    parser.add_argument("--out", type=Path, default=Path("curves.png"), help="the PNG (default: curves.png)")


def plot_jobs(args: argparse.Namespace) -> int:
    from ab_core.plots.curves import draw_runs

    api = _api(args)
    runs, reported = {}, set()
    for job_id in args.job_ids:
        history = api.call("GET", f"/v1/jobs/{job_id}/metrics")
        runs[label(api.call("GET", f"/v1/jobs/{job_id}"))] = history["rows"]
        reported.update(history["columns"])
    if not any(args.metric in row for rows in runs.values() for row in rows):
        accepted = ", ".join(sorted(reported - {"step"})) or "nothing yet"
        raise ClientError(f"no job of {', '.join(args.job_ids)} reported --metric {args.metric!r}; they "
                          f"report: {accepted}")  # fmt: skip
    print(draw_runs(args.out, runs, args.metric))
    return 0
