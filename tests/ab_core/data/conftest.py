"""Fixtures of the data tests: a private, editable copy of one synthetic MVTec category."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def mvtec_copy(synth_root: Path, tmp_path: Path) -> Path:
    """tmp/mvtec/<screw, grid>: copies a test may edit (delete masks, add files)."""
    root = tmp_path / "mvtec"
    for category in ("screw", "grid"):
        shutil.copytree(synth_root / "mvtec" / category, root / category)
    return root
