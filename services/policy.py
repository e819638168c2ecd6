"""What this service accepts beyond a valid spec: dataset paths only under the allowed roots."""

from __future__ import annotations

from pathlib import Path

from ab_core.roots import resolved_under, shown
from ab_core.spec_sections import DataSpec
from ab_core.specs import JobSpec
from ab_core.sweeps import SweepSpec
from services.errors import SpecRejectedError


def data_sections(spec: JobSpec | SweepSpec) -> list[tuple[str, DataSpec]]:
    """(field path, data section) of every dataset the job reads."""
    if isinstance(spec, JobSpec):
        return [("data", spec.data)]
    evaluate = [("evaluate.data", spec.evaluate.data)] if spec.evaluate is not None else []
    return [("trial.data", spec.trial.data), *evaluate]


def check_dataset_root(spec: JobSpec | SweepSpec, allowed_roots: list[Path]) -> None:
    """Refuse a `data.root` that is relative or resolves (symlinks followed) outside every allowed root."""
    for field, data in data_sections(spec):
        if not Path(data.root).expanduser().is_absolute():
            problem = f"{field}.root: {data.root!r} is relative"
            raise SpecRejectedError([f"{problem}; give an absolute path under: {shown(allowed_roots)}"])
        resolved, inside = resolved_under(data.root, allowed_roots)
        if not inside:
            problem = f"{field}.root: {data.root!r} (resolved {str(resolved)!r}) is outside the allowed roots"
            raise SpecRejectedError([f"{problem}: {shown(allowed_roots)}"])
