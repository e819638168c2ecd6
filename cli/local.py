"""`abs run`, `abs methods`, `abs archs`, `abs data synth|photos`, `abs spec`: ab_core here, no service."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cli import console, data_check, method_params, spec_check


def add_commands(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="run a spec in this process and print its final metrics as JSON")
    run.add_argument("spec", type=Path, help="YAML or JSON job spec")
    run.add_argument("--out", type=Path, help="output directory (default: runs/<spec name>)")
    run.add_argument("--resume", help="'auto' (newest checkpoint in --out) or a checkpoint directory")
    run.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=run_spec)

    methods = commands.add_parser("methods", help="list the registered methods and their parameters")
    methods.add_argument("--json", action="store_true", help="JSON Schemas instead of a table")
    methods.set_defaults(handler=list_methods)

    archs = commands.add_parser("archs", help="list the backbone archs, their taps and parameter counts")
    archs.add_argument("--classes", type=int, default=18, help="width of the counted classifier head")
    archs.set_defaults(handler=list_archs)

    data = commands.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    synth = data.add_parser("synth", help="generate the synthetic manufacturing data set")
    synth.add_argument("out", type=Path)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--size", type=int, default=64, help="image side in pixels")
    synth.add_argument("--per-category", type=int, default=12, help="normal training images per category")
    synth.set_defaults(handler=synth_data)
    photos = data.add_parser("photos", help="an MVTec-layout set cut from scikit-image's texture photos")
    photos.add_argument("out", type=Path)
    photos.add_argument("--seed", type=int, default=0)
    photos.add_argument("--size", type=int, default=128, help="image side in pixels")
    photos.add_argument("--contrast", type=float, default=1.0, help="planted defects' strength, (0, 1]")
    photos.set_defaults(handler=photo_data)
    data_check.add_command(data)

    spec = commands.add_parser("spec", help="job specs").add_subparsers(dest="spec_command", required=True)
    schema = spec.add_parser("schema", help="print the JobSpec JSON Schema")
    schema.set_defaults(handler=print_schema)
    check = spec.add_parser("check", help="validate a spec file and print it normalised")
    check.add_argument("spec", type=Path)
    check.set_defaults(handler=spec_check.check_spec)


def run_spec(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ab_core.errors import SpecError
    from ab_core.runner import run
    from ab_core.sweeps import load_submitted

    spec = load_submitted(args.spec)
    if spec.kind == "sweep":
        raise SpecError([f"{args.spec} is a sweep: it runs on the service, `abs sweep {args.spec}`"])
    out = args.out or Path("runs") / (spec.name or args.spec.stem)
    bar = tqdm(total=None, desc=spec.method.method, unit="step", disable=args.quiet, file=sys.stderr)

    def report(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
        if "total_steps" in metrics:
            bar.total = metrics["total_steps"]
            bar.n = metrics["step"]
        shown = {
            k: v for k, v in metrics.items() if k in ("loss", "epoch", "category", "image_auroc", "top1")
        }
        bar.set_postfix({k: f"{v:.4g}" if isinstance(v, float) else v for k, v in shown.items()})
        if metrics.get("warning"):  # a method's warning, e.g. SimSiam's collapse monitor
            bar.write(f"warning: {metrics['warning']}")
        bar.refresh()

    result = run(spec, out, report=report, resume_from=args.resume, device=args.device)
    bar.close()
    print(json.dumps(result, indent=2, default=str))
    return 0


def list_methods(args: argparse.Namespace) -> int:
    from ab_core import registry

    table = registry.entries()
    if args.json:
        schemas = {
            name: {"role": e.role, "summary": e.summary, "params": e.params.model_json_schema()}
            for name, e in table.items()
        }
        print(json.dumps(schemas, indent=2))
        return 0
    for name, entry in table.items():
        grid = console.table("parameter", "type", "accepts", "default", "description")
        for field, info in entry.params.model_fields.items():
            if field != "method":
                grid.add_row(field, method_params.type_name(info.annotation), method_params.accepts(info),
                             method_params.default(info), info.description or "")  # fmt: skip
        print(f"{name}  ({entry.role})  {entry.summary}")
        console.show(grid)
        print()
    return 0


def list_archs(args: argparse.Namespace) -> int:
    from ab_core import registry
    from ab_core.models.archs import ARCHS
    from ab_core.models.param_count import parameter_count

    print(f"{'arch':<16} {'backbone':>11} {f'+{args.classes}-class head':>17} {'decoder':>10}  taps, methods")
    for name, layout in ARCHS.items():
        count = parameter_count(name, args.classes)
        taps = "/".join(str(width) for width in layout.channels.values())
        refusing = [e.name for e in registry.entries().values() if e.arch_problem(name)]
        methods = f"all but {', '.join(refusing)}" if refusing else "all"
        counts = f"{count.backbone:>11,} {count.with_head:>17,} {count.decoder:>10,}"
        print(f"{name:<16} {counts}  {taps}, {methods}")
    return 0


def synth_data(args: argparse.Namespace) -> int:
    from ab_core.data.synth import generate

    summary = generate(args.out, seed=args.seed, size=args.size, per_category=args.per_category)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def photo_data(args: argparse.Namespace) -> int:
    from ab_core.data.photo_textures import build

    print(json.dumps(build(args.out, seed=args.seed, size=args.size, contrast=args.contrast), indent=2))
    return 0


def print_schema(args: argparse.Namespace) -> int:
    from ab_core.specs import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0
