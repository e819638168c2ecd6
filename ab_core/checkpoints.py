"""Checkpoint directories: backbone and head state dicts saved apart, training state, and `meta.json`.

Layout of a checkpoint directory:
    backbone.pt        torchvision ResNet state dict without fc (loads into resnet18 with fc = Identity)
    head.pt            the method's heads (projection head, classifier); may be empty
    training_state.pt  everything needed to resume: full module state, optimiser, scheduler, step
    meta.json          spec, spec hash, dataset fingerprint, code version, arch, step, last metrics
Everything loads with `weights_only=True`; no key ever starts with `module.`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ab_core.errors import CheckpointError

BACKBONE_FILE = "backbone.pt"
HEAD_FILE = "head.pt"
TRAINING_FILE = "training_state.pt"
META_FILE = "meta.json"


def clean_state(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Strip DDP / compile prefixes and detach to CPU."""
    cleaned = {}
    for key, value in state.items():
        for prefix in ("module.", "_orig_mod."):
            while key.startswith(prefix):
                key = key[len(prefix) :]
        cleaned[key] = value.detach().cpu() if isinstance(value, Tensor) else value
    return cleaned


def save_checkpoint(
    directory: Path,
    backbone: dict[str, Tensor],
    head: dict[str, Tensor],
    training: dict[str, Any],
    meta: dict[str, Any],
) -> Path:
    """Write atomically: into a temporary sibling, then rename, so a crash never leaves half a checkpoint."""
    directory = Path(directory)
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    torch.save(clean_state(backbone), partial / BACKBONE_FILE)
    torch.save(clean_state(head), partial / HEAD_FILE)
    torch.save(training, partial / TRAINING_FILE)
    (partial / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(partial, directory)
    return directory


def read_meta(directory: Path) -> dict[str, Any]:
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a checkpoint directory: {META_FILE} is missing")
    return json.loads(path.read_text())


def load_file(path: Path) -> Any:
    if not Path(path).is_file():
        raise CheckpointError(f"weight file {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a corrupt or foreign file
        raise CheckpointError(f"cannot load weight file {path}: {error}") from None


def read_backbone_state(path: str | Path) -> dict[str, Tensor]:
    """A backbone state dict from a checkpoint directory or a bare `.pt` state dict file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"weights {str(path)!r} not found: give 'none', 'imagenet', or a checkpoint directory"
        )
    file = path / BACKBONE_FILE if path.is_dir() else path
    state = load_file(file)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{file} does not hold a state dict")
    return {k: v for k, v in clean_state(state).items() if not k.startswith("fc.")}


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete `checkpoints/step_*` directory of a run, if any."""
    root = Path(run_dir) / "checkpoints"
    steps = [p for p in root.glob("step_*") if p.is_dir() and (p / META_FILE).is_file()]
    return max(steps, key=lambda p: int(p.name.split("_")[1]), default=None)
