"""What a checkpoint records about where it came from: spec, hashes, dataset fingerprint, code version."""

from __future__ import annotations

import subprocess
import time
from functools import cache
from pathlib import Path
from typing import Any

from ab_core import __version__
from ab_core.specs import JobSpec


@cache
def code_version() -> str:
    """The package version, plus the git commit when the code runs from a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def checkpoint_meta(
    spec: JobSpec, fingerprint: str, arch: str, step: int, metrics: dict[str, float]
) -> dict[str, Any]:
    return {
        "spec": spec.model_dump(mode="json"),
        "spec_hash": spec.spec_hash(),
        "dataset_fingerprint": fingerprint,
        "code_version": code_version(),
        "arch": arch,
        "step": step,
        "metrics": metrics,
        "saved_at": time.time(),
    }
