"""Run every example spec (examples/*.yaml) for a couple of steps on one device: the GPU check's first part.

Each spec runs through `ab_core.runner.run`, the entry point `abs run --device` calls (cli.main itself imports
the service's client libraries, which a bare GPU machine lacks), on synthetic data the project generates
(`abs data synth`) in place of the specs' `data/synth` folders. Pretrainings take `--steps` steps; evaluators'
own `epochs` / `steps` shrink to 1 / `--steps`. Prints one JSON line per example:
{"bench": "gpu_examples", "example", "kind", "method", "device", "figure": "wall_s", "value", "ok", ...}.

    python bench/gpu_examples.py --device cuda
    python bench/gpu_examples.py --device cpu --quick       # tiny data, one category: the dry run
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EXAMPLES = REPO / "examples"
SYNTH_ROOT = "data/synth"  # where the examples expect `abs data synth data/synth`
QUICK_CATEGORY = "carpet"  # one of ab_core.data.synth's categories
HEADLINES = ("loss", "image_auroc", "pixel_auroc", "top1", "images_per_second")


def shrink(raw: dict[str, Any], data_root: Path, steps: int, quick: bool) -> dict[str, Any]:
    """The example spec with its data under `data_root` and its training cut to a couple of steps;
    quick: batches of at most 8 and one MVTec category."""
    spec = copy.deepcopy(raw)
    data = spec.setdefault("data", {})
    root = str(data.get("root", ""))
    if root.startswith(SYNTH_ROOT):
        data["root"] = str(data_root / root[len(SYNTH_ROOT) :].lstrip("/"))
    if quick:
        data["batch_size"] = min(int(data.get("batch_size", 8)), 8)
        if data.get("dataset") == "mvtec":
            data["categories"] = list(data.get("categories") or [QUICK_CATEGORY])[:1]
    if spec.get("kind") == "pretrain":
        schedule = {k: v for k, v in spec.get("schedule", {}).items() if k != "epochs"}
        schedule.update(steps=steps, warmup_steps=0, checkpoint_every=steps, log_every=1)
        spec["schedule"] = schedule
    else:
        method = spec.get("method", {})
        for field, value in (("epochs", 1), ("steps", steps)):
            if field in method:
                method[field] = value
    return spec


def run_example(path: Path, spec: dict[str, Any], out: Path, device: str) -> dict[str, Any]:
    from ab_core.runner import run
    from ab_core.specs import parse_spec

    method = spec.get("method", {}).get("method")
    row: dict[str, Any] = {"bench": "gpu_examples", "example": path.stem, "kind": spec.get("kind"),
                           "method": method, "device": device, "figure": "wall_s"}
    started = time.perf_counter()
    try:
        result = run(parse_spec(spec), out / path.stem, device=device)
    except Exception as error:  # one broken example must not hide the others' figures
        traceback.print_exc(file=sys.stderr)
        return row | {"value": round(time.perf_counter() - started, 3), "ok": False,
                      "error": f"{type(error).__name__}: {error}"[:500]}
    metrics = result.get("metrics", result)
    shown = {k: metrics[k] for k in HEADLINES if isinstance(metrics.get(k), int | float)}
    return row | {"value": round(time.perf_counter() - started, 3), "ok": True, **shown}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="4 train images per category, batch <= 8, "
                        "one category")
    parser.add_argument("--steps", type=int, default=2, help="pretraining steps per example")
    parser.add_argument("--examples", nargs="*", help="example names (default: every examples/*.yaml)")
    args = parser.parse_args(argv)

    import torch

    from ab_core.data.synth import generate

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: torch {torch.__version__} sees no CUDA device")
    paths = sorted(EXAMPLES.glob("*.yaml"))
    if args.examples:
        paths = [p for p in paths if p.stem in args.examples]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        data_root = Path(tmp) / "synth"
        generate(data_root, seed=0, size=64, per_category=4 if args.quick else 12)  # the examples' 64 px
        for path in paths:
            raw = yaml.safe_load(path.read_text())
            spec = shrink(raw, data_root, args.steps, args.quick)
            row = run_example(path, spec, Path(tmp) / "runs", args.device)
            failed += not row["ok"]
            print(json.dumps(row), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
