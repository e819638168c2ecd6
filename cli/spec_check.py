"""`abs spec check FILE`: validate a spec file; each problem names the file, a misspelt field gets the
nearest real one, and a `data.root` missing on this machine is said (as `abs submit` resolves it)."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

EXTRA = "Extra inputs are not permitted"


def check_spec(args: argparse.Namespace) -> int:
    from ab_core.errors import SpecError
    from ab_core.sweeps import parse_submitted
    from cli.api import absolute_paths, read_spec
    from services.policy import data_sections

    raw = read_spec(args.spec)
    try:
        spec = parse_submitted(absolute_paths(raw, Path.cwd()))
    except SpecError as error:
        lines = [f"{args.spec}: {line}{_did_you_mean(raw, line)}" for line in error.problems]
        raise SpecError(lines) from None
    for field, data in data_sections(spec):
        if not data.download and not Path(data.root).expanduser().exists():
            print(f"{args.spec}: warning: {field}.root {data.root!r} does not exist on this machine",
                  file=sys.stderr)  # fmt: skip
    print(json.dumps({"spec_hash": spec.spec_hash(), "spec": spec.model_dump(mode="json")}, indent=2))
    return 0


def _did_you_mean(raw: dict[str, Any], problem: str) -> str:
    """`; did you mean 'root'?` after an unknown field close to a real one."""
    path, _, message = problem.partition(": ")
    if message != EXTRA:
        return ""
    *parents, key = path.split(".")
    close = difflib.get_close_matches(key, fields_at(raw, parents), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def fields_at(raw: dict[str, Any], parents: list[str]) -> list[str]:
    """The field names of the model at a dotted path of a spec (pydantic's union tags in it skipped)."""
    from ab_core.specs import JobSpec
    from ab_core.sweeps import SweepSpec

    model: type[BaseModel] | None = SweepSpec if raw.get("kind") == "sweep" else JobSpec
    node: Any = raw
    for part in parents:
        if model is None:
            return []
        if part not in model.model_fields:
            continue  # `simclr` in `method.simclr.temprature`: the tag of the method union
        node = node.get(part) if isinstance(node, dict) else None
        model = _model_of(model.model_fields[part].annotation, node)
    return [] if model is None else list(model.model_fields)


def _model_of(annotation: Any, value: Any) -> type[BaseModel] | None:
    """The model an annotation holds; of the method union, the one `value['method']` names."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    models = [model for arg in get_args(annotation) if (model := _model_of(arg, value)) is not None]
    if len(models) > 1 and isinstance(value, dict):
        named = [m for m in models if value.get("method") in get_args(m.model_fields["method"].annotation)]
        return named[0] if named else None
    return models[0] if models else None
