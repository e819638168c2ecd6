"""What a job may load by path: `backbone.weights`, a checkpoint directory of this project, and RegAD's
`method.registration`, a registration network; each under the allowed dataset roots, or in the service's
run store inside the directory of a job the submitter may see."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from ab_core.checkpoints import BACKBONE_FILE
from ab_core.methods.regad import RegadParams
from ab_core.roots import resolved_under, shown
from ab_core.specs import JobSpec
from ab_core.sweeps import SweepSpec
from services.errors import SpecRejectedError

NAMED_WEIGHTS = ("none", "imagenet")
MaySee = Callable[[str], bool]


def stages(spec: JobSpec | SweepSpec) -> list[tuple[str, JobSpec]]:
    """(field prefix, job spec) of every stage the job runs."""
    if isinstance(spec, JobSpec):
        return [("", spec)]
    return [("trial.", spec.trial), *([("evaluate.", spec.evaluate)] if spec.evaluate else [])]


def weights_sections(spec: JobSpec | SweepSpec) -> list[tuple[str, str]]:
    """(field path, weights) of every backbone the job loads."""
    return [(f"{prefix}backbone.weights", stage.backbone.weights) for prefix, stage in stages(spec)]


def registration_sections(spec: JobSpec | SweepSpec) -> list[tuple[str, str]]:
    """(field path, path) of every RegAD registration network the job reads by path."""
    found = []
    for prefix, stage in stages(spec):
        source = stage.method.registration if isinstance(stage.method, RegadParams) else None
        if isinstance(source, str):
            found.append((f"{prefix}method.registration", source))
        elif source is not None and source.path is not None:
            found.append((f"{prefix}method.registration.path", source.path))
    return found


def check_weights(
    spec: JobSpec | SweepSpec, allowed_roots: list[Path], runs_dir: Path, may_see: MaySee
) -> None:
    """Refuse weights or registration networks outside the allowed roots and the run store, another
    owner's job outputs, a missing path, and a file of the wrong kind (one problem line per bad field)."""
    problems = []
    for field, weights in weights_sections(spec):
        if weights not in NAMED_WEIGHTS:
            problem = weights_problem(weights, allowed_roots, runs_dir, may_see)
            problems += [f"{field}: {problem}"] if problem else []
    for field, path in registration_sections(spec):
        problem = registration_problem(path, allowed_roots, runs_dir, may_see)
        problems += [f"{field}: {problem}"] if problem else []
    if problems:
        raise SpecRejectedError(problems)


def weights_problem(weights: str, allowed_roots: list[Path], runs_dir: Path, may_see: MaySee) -> str | None:
    accepted = (f"give 'none', 'imagenet', or a checkpoint directory (holding {BACKBONE_FILE}) under "
                f"{shown(allowed_roots)} or in a job's directory of the run store {runs_dir}")  # fmt: skip
    resolved, problem = confined(weights, allowed_roots, runs_dir, may_see)
    if problem is not None:
        return f"{problem}; {accepted}"
    if not resolved.is_dir():
        return f"{weights!r} is a file, not a checkpoint directory; {accepted}"
    if not is_torch_file(resolved / BACKBONE_FILE):
        return f"{weights!r} holds no {BACKBONE_FILE} saved by torch.save, so it is no checkpoint; {accepted}"
    return None


def registration_problem(path: str, allowed_roots: list[Path], runs_dir: Path, may_see: MaySee) -> str | None:
    accepted = (f"give a registration.pt, or a RegAD job's output folder, under {shown(allowed_roots)} or in "
                f"a job's directory of the run store {runs_dir}; or {{from_job: <job id>}}")  # fmt: skip
    resolved, problem = confined(path, allowed_roots, runs_dir, may_see)
    if problem is not None:
        return f"{problem}; {accepted}"
    if resolved.is_file() and not is_torch_file(resolved):
        return f"{path!r} was not saved by torch.save, so it is no registration network; {accepted}"
    return None


def confined(
    path: str, allowed_roots: list[Path], runs_dir: Path, may_see: MaySee
) -> tuple[Path, str | None]:
    """(`path` resolved, why it may not be read or None): it must be absolute, exist, and lie under an
    allowed root or in the run store inside a job directory `may_see` accepts."""
    if not Path(path).expanduser().is_absolute():
        return Path(path), f"{path!r} is relative"
    resolved, in_store = resolved_under(path, [runs_dir])
    if in_store:  # checked first: an allowed root may contain the run store
        parts = resolved.relative_to(runs_dir.expanduser().resolve()).parts
        if not parts or not may_see(parts[0]):
            return resolved, f"{path!r} lies in the run store outside the directories of jobs you see"
    elif not resolved_under(path, allowed_roots)[1]:
        return resolved, f"{path!r} (resolved {str(resolved)!r}) is outside the allowed roots"
    if not resolved.exists():
        return resolved, f"{path!r} does not exist"
    return resolved, None


def is_torch_file(path: Path) -> bool:
    """A file in torch.save's zip format (a bare pickle or any other file is not)."""
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
