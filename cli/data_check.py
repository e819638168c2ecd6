"""`abs data check SPEC_OR_ROOT`: a dataset's layout, its counts per split and class, and its problems."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_command(data: argparse._SubParsersAction) -> None:
    check = data.add_parser(
        "check",
        help="check a dataset root (its layout detected) or every data section of a spec file",
        description="Names the layout, counts images per split and class, lists images without masks, "
        "masks without images, size mismatches and unreadable files. Exit status 1 when there are errors.",
    )
    check.add_argument("target", type=Path, help="a dataset directory, or a YAML / JSON job or sweep spec")
    check.add_argument("--dataset", help="the dataset kind of a directory (default: detected)")
    check.add_argument("--seed", type=int, default=0, help="seed of the hold-outs (as the spec's seed)")
    check.add_argument("--quick", action="store_true", help="read file headers only, not every pixel")
    check.add_argument("--json", action="store_true", help="one JSON object per data section")
    check.set_defaults(handler=check_data_command)


def _sections(args: argparse.Namespace) -> list[tuple[str, object, int]]:
    """(field path, DataSpec, seed) of what to check."""
    from pydantic import ValidationError

    from ab_core.data.check import detect_layout
    from ab_core.errors import SpecError
    from ab_core.specs import DataSpec, JobSpec

    if args.target.is_dir():
        kind = args.dataset or detect_layout(args.target)
        if kind == "folder":
            raise SpecError(["data.dataset 'folder' needs normal_dir (and abnormal_dir, mask_dir): check a "
                             "spec file that names them"])
        try:
            return [("data", DataSpec(dataset=kind, root=str(args.target)), args.seed)]
        except ValidationError as error:
            raise SpecError([f"--dataset {kind!r}: {e['msg']}" for e in error.errors()]) from None
    from ab_core.sweeps import load_submitted

    spec = load_submitted(args.target)
    if isinstance(spec, JobSpec):
        return [("data", spec.data, spec.seed)]
    stages = [("trial.data", spec.trial.data, spec.trial.seed)]
    if spec.evaluate is not None:
        stages.append(("evaluate.data", spec.evaluate.data, spec.evaluate.seed))
    return stages


def check_data_command(args: argparse.Namespace) -> int:
    from ab_core.data.check import check_data

    failed = False
    for field, data, seed in _sections(args):
        report = check_data(data, seed, decode=not args.quick)  # type: ignore[arg-type]
        failed = failed or not report.ok
        if args.json:
            print(json.dumps({"field": field} | report.as_dict()))
        else:
            print(f"[{field}] " + "\n".join(report.lines()))
    return 1 if failed else 0
