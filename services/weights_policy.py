"""What `backbone.weights` may name: a checkpoint directory of this project under the allowed dataset
roots, or in the service's run store inside the directory of a job the submitter may see."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from ab_core.checkpoints import BACKBONE_FILE
from ab_core.roots import resolved_under, shown
from ab_core.specs import JobSpec
from ab_core.sweeps import SweepSpec
from services.errors import SpecRejectedError

NAMED_WEIGHTS = ("none", "imagenet")


def weights_sections(spec: JobSpec | SweepSpec) -> list[tuple[str, str]]:
    """(field path, weights) of every backbone the job loads."""
    if isinstance(spec, JobSpec):
        return [("backbone.weights", spec.backbone.weights)]
    evaluate = [("evaluate.backbone.weights", spec.evaluate.backbone.weights)] if spec.evaluate else []
    return [("trial.backbone.weights", spec.trial.backbone.weights), *evaluate]


def check_weights(
    spec: JobSpec | SweepSpec, allowed_roots: list[Path], runs_dir: Path, may_see: Callable[[str], bool]
) -> None:
    """Refuse weights outside the allowed roots and the run store, another owner's job outputs, a missing
    path, and anything that is not a checkpoint directory (one problem line per bad field)."""
    problems = []
    for field, weights in weights_sections(spec):
        if weights not in NAMED_WEIGHTS:
            problem = weights_problem(weights, allowed_roots, runs_dir, may_see)
            if problem is not None:
                problems.append(f"{field}: {problem}")
    if problems:
        raise SpecRejectedError(problems)


def weights_problem(
    weights: str, allowed_roots: list[Path], runs_dir: Path, may_see: Callable[[str], bool]
) -> str | None:
    accepted = (f"give 'none', 'imagenet', or a checkpoint directory (holding {BACKBONE_FILE}) under "
                f"{shown(allowed_roots)} or in a job's directory of the run store {runs_dir}")  # fmt: skip
    if not Path(weights).expanduser().is_absolute():
        return f"{weights!r} is relative; {accepted}"
    resolved, in_store = resolved_under(weights, [runs_dir])
    if in_store:  # checked first: an allowed root may contain the run store
        parts = resolved.relative_to(runs_dir.expanduser().resolve()).parts
        if not parts or not may_see(parts[0]):
            return f"{weights!r} lies in the run store outside the directories of jobs you see; {accepted}"
    elif not resolved_under(weights, allowed_roots)[1]:
        return f"{weights!r} (resolved {str(resolved)!r}) is outside the allowed roots; {accepted}"
    if not resolved.exists():
        return f"{weights!r} does not exist; {accepted}"
    if not resolved.is_dir():
        return f"{weights!r} is a file, not a checkpoint directory; {accepted}"
    if not is_torch_file(resolved / BACKBONE_FILE):
        return f"{weights!r} holds no {BACKBONE_FILE} saved by torch.save, so it is no checkpoint; {accepted}"
    return None


def is_torch_file(path: Path) -> bool:
    """A file in torch.save's zip format (a bare pickle or any other file is not)."""
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
