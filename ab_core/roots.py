"""Whether a path lies under one of the allowed roots, symlinks resolved: the one test the API applies at
submit and the workers apply again just before they read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def resolved_under(path: str | Path, roots: Sequence[str | Path]) -> tuple[Path, bool]:
    """(`path` resolved now, whether it is one of `roots` or lies below one); roots are resolved too.
    A path the OS cannot look up (a NUL byte in it) lies under no root."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (ValueError, OSError):
        return Path(path), False
    for root in roots:
        root = Path(root).expanduser().resolve()
        if resolved == root or root in resolved.parents:
            return resolved, True
    return resolved, False


def shown(roots: Sequence[str | Path]) -> str:
    """The roots as a message lists them."""
    return ", ".join(str(root) for root in roots) or "(none configured: set AB_ALLOWED_DATASET_ROOTS)"
