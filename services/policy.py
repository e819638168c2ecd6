"""What this service accepts beyond a valid spec: dataset paths only under the allowed roots."""

from __future__ import annotations

from pathlib import Path

from ab_core.specs import JobSpec
from services.errors import SpecRejectedError


def check_dataset_root(spec: JobSpec, allowed_roots: list[Path]) -> None:
    """Refuse a `data.root` that is relative or resolves (symlinks followed) outside every allowed root."""
    shown = (
        ", ".join(str(root) for root in allowed_roots) or "(none configured: set AB_ALLOWED_DATASET_ROOTS)"
    )
    raw = Path(spec.data.root).expanduser()
    if not raw.is_absolute():
        raise SpecRejectedError(
            [f"data.root: {spec.data.root!r} is relative; give an absolute path under: {shown}"]
        )
    resolved = raw.resolve()
    if not any(resolved == root or root in resolved.parents for root in allowed_roots):
        problem = f"data.root: {spec.data.root!r} (resolved {str(resolved)!r}) is outside the allowed roots"
        raise SpecRejectedError([f"{problem}: {shown}"])
