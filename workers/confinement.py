"""The dataset root checked again where the data is read: a symlink inside an allowed root, swapped after
submit, must not lead a job to read a folder outside the roots."""

from __future__ import annotations

from collections.abc import Sequence

from ab_core.errors import DataError
from ab_core.roots import resolved_under, shown
from ab_core.specs import JobSpec


def check_data_root(spec: JobSpec, allowed_roots: Sequence[str] | None, field: str = "data") -> None:
    """DataError (a user error: final) when `spec.data.root` resolves outside `allowed_roots` now; None
    means no service policy applies (a Ray Train run outside the service)."""
    if allowed_roots is None:
        return
    resolved, inside = resolved_under(spec.data.root, allowed_roots)
    if not inside:
        raise DataError(
            f"{field}.root {spec.data.root!r} now resolves to {str(resolved)!r}, outside the allowed roots "
            f"({shown(allowed_roots)}); not reading it: point it at data under one of them"
        )
