"""Which backbone wins on real photographs: every pretrainer -> PaDiM and RD4AD, beside random init.

Builds the photo-texture set (`abs data photos`: scikit-image's brick, grass, gravel cut into an MVTec
layout with planted defects), then through the service (embedded, or --url) submits per runnable
pretrainer a pipeline: pretrain on every photo's normal train crops -> PaDiM and RD4AD evaluations with
`backbone: {from_job}`; and both evaluators on random init. One photo (--held-out) is kept out of the
tuning (the sweep) and reported apart. Optionally a sweep (pretrain -> PaDiM trials over one parameter,
ranked by image AUROC). Prints the `abs results` table and one JSON line per figure; --out writes the
section of docs/research.md.

    .venv/bin/python bench/backbone_study.py --out docs/research.md            # 300 steps at 128 px
    .venv/bin/python bench/backbone_study.py --quick --out /tmp/research.md   # smoke run, a few minutes
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ab_core import registry  # noqa: E402
from ab_core.data import photo_textures  # noqa: E402
from ab_core.data.context_patches import grid_extent  # noqa: E402
from ab_core.errors import SpecError  # noqa: E402
from ab_core.specs import parse_spec  # noqa: E402
from bench import study_report  # noqa: E402
from cli.api import Client  # noqa: E402
from cli.results import defaults, render  # noqa: E402

EVALUATORS = ("padim", "rd4ad")
FULL = {"steps": 300, "size": 128, "batch_size": 16, "rd4ad_epochs": 10, "padim_features": 100}
QUICK = {"steps": 2, "size": 64, "batch_size": 4, "rd4ad_epochs": 1, "padim_features": 50}
QUICK_PRETRAINERS = ["cdo", "simclr"]
QUICK_COUNTS = {"train": 8, "test_good": 4, "test_per_defect": 2}


@dataclass(frozen=True)
class Plan:
    root: Path  # the photo set (an MVTec root)
    tuned: list[str]
    held_out: str | None
    pretrainers: list[str] | None  # None: every registered one that validates on this data
    steps: int
    size: int
    batch_size: int
    rd4ad_epochs: int
    padim_features: int | None
    seed: int = 0
    evaluators: tuple[str, ...] = EVALUATORS
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # --set: method -> params
    random_init: bool = True
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def categories(self) -> list[str]:
        return self.tuned + ([self.held_out] if self.held_out else [])


def _data(plan: Plan, categories: list[str] | None = None) -> dict[str, Any]:
    data = {"dataset": "mvtec", "root": str(plan.root), "resize": plan.size, "crop": plan.size,
            "batch_size": plan.batch_size}  # fmt: skip
    return data | ({"categories": categories} if categories else {})


def pretrain_spec(plan: Plan, method: str) -> dict[str, Any]:
    """`method` with its defaults on every photo's normal train crops, on resnet18 when it accepts it."""
    entry = registry.get(method)
    arch = "resnet18" if entry.archs is None or "resnet18" in entry.archs else entry.archs[0]
    params = {"method": method} | fitted(method, plan.size) | plan.overrides.get(method, {})
    return {"kind": "pretrain", "name": f"study-{method}", "method": params, "data": _data(plan),
            "backbone": {"arch": arch}, "schedule": {"steps": plan.steps}, "seed": plan.seed}  # fmt: skip


def fitted(method: str, size: int) -> dict[str, int]:
    """What a method's defaults need changed to fit `size` px: relative_position's 3x3 grid (204 px at its
    defaults) scaled down in proportion; every other method keeps its defaults."""
    if method != "relative_position":
        return {}
    fields = registry.get(method).params.model_fields
    default = {name: fields[name].default for name in ("patch_size", "gap", "jitter")}
    scale = min(1.0, size / grid_extent(default["patch_size"], default["gap"], default["jitter"]))
    return {name: int(value * scale) for name, value in default.items()}


def evaluation_spec(
    plan: Plan, evaluator: str, backbone: dict[str, Any], categories: list[str] | None = None
) -> dict[str, Any]:
    method: dict[str, Any] = {"method": evaluator}
    if evaluator == "rd4ad":
        method["epochs"] = plan.rd4ad_epochs
    if evaluator == "padim" and plan.padim_features is not None:
        method["n_features"] = plan.padim_features
    return {"kind": "evaluate", "method": method, "data": _data(plan, categories or plan.categories),
            "backbone": backbone, "seed": plan.seed}  # fmt: skip


def runnable_pretrainers(plan: Plan) -> tuple[list[str], dict[str, str]]:
    """The chosen (default: all registered) pretrainers whose default spec validates here, and why not."""
    names = plan.pretrainers or [n for n, e in registry.entries().items() if e.role == "pretrain"]
    runnable, skipped = [], {}
    for name in names:
        try:
            parse_spec(pretrain_spec(plan, name))
            runnable.append(name)
        except SpecError as error:
            skipped[name] = "; ".join(error.problems)
    return runnable, skipped


def submit_study(client: Client, plan: Plan) -> list[str]:
    """Submit the pipelines and the random-init evaluations; the evaluation job ids."""
    evaluations = []
    for method in plan.pretrainers or []:
        spec = pretrain_spec(plan, method)
        pretrain = client.submit(spec)["id"]
        for evaluator in plan.evaluators:
            backbone = {"arch": spec["backbone"]["arch"], "from_job": pretrain}
            evaluations.append(client.submit(evaluation_spec(plan, evaluator, backbone))["id"])
    if plan.random_init:
        for evaluator in plan.evaluators:
            backbone = {"arch": "resnet18", "weights": "none"}
            evaluations.append(client.submit(evaluation_spec(plan, evaluator, backbone))["id"])
    return evaluations


def wait_all(client: Client, job_ids: list[str], timeout: float | None) -> None:
    """Wait for every job; a failed one is reported as a JSON line, not fatal to the others."""
    for job_id in job_ids:
        job = client.wait(job_id, timeout=timeout, poll=2.0)
        if job["state"] != "succeeded":
            print(json.dumps({"bench": "backbone_study", "failed": job_id, "state": job["state"],
                              "error": job["error"]}), flush=True)  # fmt: skip


def leaderboard(client: Client, plan: Plan, evaluations: list[str]) -> tuple[list[dict[str, Any]], str]:
    """The study's own rows of `GET /v1/results` and the `abs results` text table of them."""
    page = client.results(dataset=str(plan.root), limit=500)
    rows = [row for row in page["items"] if row["evaluator"]["job_id"] in set(evaluations)]
    table = render(page | {"items": rows, "total": len(rows)}, defaults(client.call("GET", "/v1/methods")))
    return rows, table


def parse_sweep(text: str, flag: str = "--sweep") -> tuple[str, list[float | str]]:
    """'cdo.gamma=1,2.5,x' -> ('cdo.gamma', [1, 2.5, 'x']): integers, then floats, the rest text."""
    path, _, listed = text.partition("=")
    if "." not in path or not listed:
        raise SystemExit(f"{flag} {text!r}: give METHOD.PARAM=V1,V2,..., e.g. cdo.gamma=1,2,3,5")

    def value(item: str) -> float | str:
        for kind in (int, float):
            try:
                return kind(item)
            except ValueError:
                pass
        return item

    return path, [value(item) for item in listed.split(",")]


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """['relative_position.patch_size=24', ...] -> {'relative_position': {'patch_size': 24}}."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        path, values = parse_sweep(item, "--set")
        method, param = path.split(".", 1)
        overrides.setdefault(method, {})[param] = values[0]
    return overrides


def sweep_spec(plan: Plan, path: str, values: list[float | str]) -> dict[str, Any]:
    """pretrain (`path` = method.param, e.g. cdo.gamma) -> PaDiM on the tuned photos, over `values`."""
    method, param = path.split(".", 1)
    trial = pretrain_spec(plan, method)
    padim = evaluation_spec(plan, "padim", {"arch": trial["backbone"]["arch"]}, plan.tuned)
    return {"kind": "sweep", "name": f"study-{path}", "trial": trial, "evaluate": padim,
            "space": {f"method.{param}": {"grid": values}}, "metric": "image_auroc"}  # fmt: skip


def sweep_figures(client: Client, sweep_id: str, param: str) -> list[dict[str, Any]]:
    """Each trial's PaDiM means (from its evaluation child), best image AUROC first."""
    out = []
    for trial in client.jobs(parent=sweep_id, limit=200):
        children = [job for job in client.jobs(parent=trial["id"]) if job["state"] == "succeeded"]
        mean = children[0]["result"]["mean"] if children else {}
        figures = {m: round(v, 4) if isinstance(v := mean.get(m), float) else v for m in study_report.METRICS}
        out.append({"value": trial["params"][f"method.{param}"], "trial": trial["id"], **figures})
    return sorted(out, key=lambda f: -(f["image_auroc"] or 0.0))


def run_study(client: Client, plan: Plan, sweep: str | None, timeout: float | None) -> dict[str, Any]:
    """Submit, wait, read back: the figures (and the sweep's), the `abs results` table."""
    evaluations = submit_study(client, plan)
    path, values = parse_sweep(sweep) if sweep else ("", [])
    sweep_id = client.submit(sweep_spec(plan, path, values))["id"] if sweep else None
    wait_all(client, evaluations + ([sweep_id] if sweep_id else []), timeout)
    rows, table = leaderboard(client, plan, evaluations)
    figures = study_report.figures(rows, plan.tuned, plan.held_out)
    swept = sweep_figures(client, sweep_id, path.split(".", 1)[1]) if sweep_id else None
    return {"figures": figures, "table": table, "sweep": swept}


def _plan(args: argparse.Namespace, root: Path) -> Plan:
    """The budget (--quick: QUICK, where not given), the photos, the pretrainers that validate."""
    given = {k: v for k in ("steps", "size", "rd4ad_epochs") if (v := getattr(args, k)) is not None}
    budget = (QUICK if args.quick else FULL) | given
    chosen = args.pretrainers.split(",") if args.pretrainers else (QUICK_PRETRAINERS if args.quick else None)
    held_out = args.held_out or None
    default = ["brick"] if args.quick else list(photo_textures.PHOTOS)  # the held-out one is added
    photos = args.photos.split(",") if args.photos else default
    tuned = [p for p in photos if p != held_out]
    evaluators = tuple(args.evaluators.split(","))
    if set(evaluators) - set(EVALUATORS):
        raise SystemExit(f"--evaluators {args.evaluators!r}: accepted a choice of {', '.join(EVALUATORS)}")
    plan = Plan(root, tuned, held_out, chosen, seed=args.seed, overrides=parse_overrides(args.set),
                evaluators=evaluators, **budget)  # fmt: skip
    if args.sweep_only:
        if not args.sweep:
            raise SystemExit("--sweep-only needs --sweep METHOD.PARAM=V1,V2,...")
        return replace(plan, pretrainers=[], random_init=False)
    runnable, skipped = runnable_pretrainers(plan)
    return replace(plan, pretrainers=runnable, skipped=skipped)


def _report(args: argparse.Namespace, plan: Plan, counts: dict[str, int], study: dict[str, Any]) -> None:
    for figure in study["figures"]:
        print(json.dumps({"bench": "backbone_study", "quick": args.quick, "steps": plan.steps,
                          "size": plan.size, "seed": plan.seed, **figure}), flush=True)  # fmt: skip
    for trial in study["sweep"] or []:
        print(json.dumps({"bench": "backbone_study", "sweep": args.sweep, **trial}), flush=True)
    print(study["table"], end="", file=sys.stderr)
    if args.out:
        setup = {"command": " ".join(["python bench/backbone_study.py", *sys.argv[1:]]), "quick": args.quick,
                 "steps": plan.steps, "size": plan.size, "batch_size": plan.batch_size, "seed": plan.seed,
                 "tuned": plan.tuned, "held_out": plan.held_out, "skipped": plan.skipped, "sweep": args.sweep,
                 "counts": counts, "contrast": args.contrast,
                 "rd4ad_epochs": plan.rd4ad_epochs if "rd4ad" in plan.evaluators else None}  # fmt: skip
        study_report.write_section(args.out, study_report.section(setup, study["figures"], study["table"],
                                                                  study["sweep"]))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help=f"pretraining steps (default {FULL['steps']})")
    parser.add_argument("--size", type=int, help=f"image side in pixels (default {FULL['size']})")
    parser.add_argument("--seed", type=int, default=0, help="data, pretraining and evaluation seed")
    parser.add_argument("--rd4ad-epochs", type=int, help=f"default {FULL['rd4ad_epochs']}")
    parser.add_argument("--pretrainers", help="comma-separated (default: every registered one that fits)")
    parser.add_argument("--evaluators", default=",".join(EVALUATORS), help="comma-separated (default: all)")
    parser.add_argument("--photos", help=f"comma-separated, of {', '.join(photo_textures.PHOTOS)} (all)")
    parser.add_argument("--held-out", default="gravel", help="the photo kept out of tuning ('' for none)")
    parser.add_argument("--contrast", type=float, default=1.0, help="planted defects' strength, (0, 1]")
    parser.add_argument("--sweep", help="a pretrain -> PaDiM sweep, e.g. cdo.gamma=1,2,3,5")
    parser.add_argument("--sweep-only", action="store_true", help="the sweep alone (no pipelines)")
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.PARAM=VALUE",
                        help="a pretrainer's param in its pipeline and sweeps (repeatable)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 steps, 64 px, 2 pretrainers")
    parser.add_argument("--url", help="a running service (default: an embedded one); --token with it")
    parser.add_argument("--token")
    parser.add_argument("--work", type=Path, help="where the set (and an embedded service) live")
    parser.add_argument("--timeout", type=float, help="seconds to wait per job (default: no limit)")
    parser.add_argument("--out", type=Path, help="write the study's section of this Markdown file")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="abstudy-"))
    plan = _plan(args, work / "photos")
    built = photo_textures.build(plan.root, seed=plan.seed, size=plan.size, photos=plan.categories,
                                 contrast=args.contrast, **(QUICK_COUNTS if args.quick else {}))  # fmt: skip
    print(json.dumps({"bench": "backbone_study", "pretrainers": plan.pretrainers, "skipped": plan.skipped,
                      "tuned": plan.tuned, "held_out": plan.held_out, "root": str(plan.root)}),
          flush=True)  # fmt: skip
    with _client(args, work) as client:
        _report(args, plan, built["counts"], run_study(client, plan, args.sweep, args.timeout))
    return 0


@contextmanager
def _client(args: argparse.Namespace, work: Path) -> Iterator[Client]:
    """A client of the service at --url, or of an embedded one started under `work` (stopped after)."""
    if args.url:
        with Client(args.url, args.token) as client:
            yield client
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from embedded_service import embedded_service

    with embedded_service(work, dispatch_poll_seconds=0.5) as embedded:
        token = embedded.http.headers["Authorization"].removeprefix("Bearer ")
        with Client(str(embedded.http.base_url), token) as client:
            yield client


if __name__ == "__main__":
    sys.exit(main())
