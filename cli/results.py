"""`abs results`: the leaderboard of backbones x evaluators, as an aligned text table (or JSON), and with
`--plot FILE` as a bar chart of the ranked metric."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.client import _api, api_command
from cli.console import print_json

METRIC_COLUMNS = ("image_auroc", "pixel_auroc", "aupro", "image_f1_max", "pixel_f1_max", "top1", "top5")
RANKED_BY_DEFAULT = ("image_auroc", "top1")  # what the API sorts by without `sort`: anomaly, probe rows
PARAMS_WIDTH = 40


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = api_command(commands, "results", "compare backbones across evaluators, best first", show_results)
    parser.add_argument("--dataset", help="spec.data.dataset (e.g. mvtec) or a data root")
    parser.add_argument("--evaluator", help="padim, rd4ad, linear_probe, ...")
    parser.add_argument("--method", help="the pretraining method, or imagenet / none / checkpoint")
    parser.add_argument("--category", help="show this category's metrics instead of the mean")
    parser.add_argument("--sort", help="a metric (default: image_auroc, top1 for linear-probe rows)")
    parser.add_argument("--limit", type=int, default=100, help="rows, 1..500 (default 100)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON page")
    parser.add_argument("--plot", type=Path, metavar="FILE", help="also draw the ranked metric as a PNG")


def show_results(args: argparse.Namespace) -> int:
    names = ("dataset", "evaluator", "method", "category", "sort")
    params = {name: getattr(args, name) for name in names if getattr(args, name)} | {"limit": args.limit}
    api = _api(args)
    page = api.call("GET", "/v1/results", params=params)
    if args.json:
        print_json(page)
    else:
        print(render(page, defaults(api.call("GET", "/v1/methods"))), end="")
    if args.plot:
        print(f"leaderboard drawn in {plot(page, args.plot)}", file=sys.stderr)
    return 0


def plot(page: dict[str, Any], path: Path) -> Path:
    """One bar per row, best first: the metric the page is sorted by (by default image_auroc, top1 for
    linear-probe rows)."""
    from ab_core.plots.leaderboard import draw_leaderboard

    bars, ranked = [], []
    for row in page["items"]:
        defaults = (m for m in RANKED_BY_DEFAULT if m in row["metrics"])
        metric = page.get("sort") or next(defaults, RANKED_BY_DEFAULT[0])
        ranked += [metric] if metric not in ranked else []
        name = f"{_backbone_name(row['backbone'])} / {row['evaluator']['method']}"
        bars.append((name, row["metrics"].get(metric)))
    metric = " or ".join(ranked) or page.get("sort") or RANKED_BY_DEFAULT[0]
    where = f", {page['category']}" if page.get("category") else ""
    title = f"{metric}{where}, best first ({len(bars)} of {page['total']} rows)"
    return draw_leaderboard(path, bars, metric, title)


def defaults(methods: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each method's parameter defaults, from the JSON Schemas `GET /v1/methods` serves."""
    return {
        method["name"]: {key: field["default"] for key, field in
                         method["params_schema"].get("properties", {}).items() if "default" in field}
        for method in methods
    }  # fmt: skip


def render(page: dict[str, Any], defaults: dict[str, dict[str, Any]]) -> str:
    """The page as a text table: one line per row, numbers to 4 places, '-' where a row lacks a metric;
    the params column shows what differs from the method's defaults or between the rows."""
    rows = page["items"]
    if not rows:
        return "no results match\n"
    metrics = [name for name in METRIC_COLUMNS if any(name in row["metrics"] for row in rows)]
    if page.get("sort") and page["sort"] not in metrics:
        metrics.append(page["sort"])
    varying = _varying_params(rows)
    header = ["backbone", "method", "params", "evaluator", "dataset", *metrics, "finished"]
    lines = [header]
    for row in rows:
        backbone, evaluator = row["backbone"], row["evaluator"]
        dataset = evaluator["dataset"] + (f"/{page['category']}" if page.get("category") else "")
        lines.append([
            _backbone_name(backbone), backbone["method"] or "-", _params(backbone, varying, defaults),
            evaluator["method"], dataset, *(_number(row["metrics"].get(name)) for name in metrics),
            (row["finished_at"] or "-")[:19].replace("T", " "),
        ])  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    numeric = set(range(5, 5 + len(metrics)))
    text = [
        "  ".join(cell.rjust(width) if i in numeric else cell.ljust(width)
                  for i, (cell, width) in enumerate(zip(line, widths, strict=True))).rstrip()
        for line in lines
    ]  # fmt: skip
    only = f", {page['category']} only" if page.get("category") else ""
    return "\n".join(text) + f"\n{len(rows)} of {page['total']} rows{only}\n"


def _backbone_name(backbone: dict[str, Any]) -> str:
    if backbone["source"] == "job":
        return backbone["job_id"] + (" (sweep best)" if backbone["sweep_id"] else "")
    if backbone["source"] == "none":
        return "random init"
    return backbone["checkpoint"] if backbone["source"] == "checkpoint" else backbone["source"]


def _varying_params(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Per pretraining method, the params whose values differ between its rows (a sweep's knobs)."""
    seen: dict[str, dict[str, set[str]]] = {}
    for row in rows:
        backbone = row["backbone"]
        for key, value in backbone["params"].items():
            seen.setdefault(backbone["method"] or "", {}).setdefault(key, set()).add(repr(value))
    return {method: {k for k, values in params.items() if len(values) > 1} for method, params in seen.items()}


def _params(
    backbone: dict[str, Any], varying: dict[str, set[str]], defaults: dict[str, dict[str, Any]]
) -> str:
    """The key params: those off the method's default, and those that vary between its rows."""
    method, params = backbone["method"] or "", backbone["params"]
    default = defaults.get(method, {})
    keys = {k for k, v in params.items() if k in default and default[k] != v} | varying.get(method, set())
    text = ",".join(f"{k}={_value(params[k])}" for k in sorted(keys) if k in params) or "-"
    return text if len(text) <= PARAMS_WIDTH else text[: PARAMS_WIDTH - 3] + "..."


def _value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
