"""Training RegAD's registration network on few-shot episodes, and the checkpoint file that keeps it."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ab_core.checkpoints import clean_state, load_file
from ab_core.components.encoder import prepare
from ab_core.components.registration import FeatureRegistration
from ab_core.contracts import BuildContext
from ab_core.data.episodes import episodes, seeded_generator
from ab_core.data.loader import ImageDataset
from ab_core.errors import CheckpointError, TrainingError

CHECKPOINT_FILE = "registration.pt"  # in each category's output folder


@dataclass(frozen=True)
class RegistrationTraining:
    """The reference's training: SGD with momentum, the rate cosine-decayed per epoch (the reference sets
    epoch e = 1..E to lr (1 + cos(pi e / E)) / 2, whose last epoch has rate 0; here e = 0..E-1)."""

    epochs: int
    steps: int | None  # stop after this many optimiser steps; None: every epoch
    batch_size: int  # queries per step
    shots: int  # supports per query
    lr: float
    momentum: float

    def rate(self, epoch: int) -> float:
        return self.lr * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))

    def run(
        self,
        network: FeatureRegistration,
        sets: dict[str, ImageDataset],
        ctx: BuildContext,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> int:
        """Train `network` on episodes of `sets` (each category's normal train images); returns the steps."""
        trainable = [p for p in network.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(trainable, lr=self.lr, momentum=self.momentum)
        sizes = {name: len(dataset) for name, dataset in sets.items()}
        steps = 0
        for epoch in range(self.epochs):
            for group in optimizer.param_groups:
                group["lr"] = self.rate(epoch)
            network.train()
            total, count = 0.0, 0
            generator = seeded_generator("regad-episodes", ctx.seed, epoch)
            for episode in episodes(sizes, self.batch_size, self.shots, generator):
                dataset = sets[episode.category]
                query = prepare(dataset.__getitems__(episode.queries).images, ctx)  # (B, 3, H, W)
                flat = [i for row in episode.supports for i in row]
                support = prepare(dataset.__getitems__(flat).images, ctx)  # (B K, 3, H, W)
                support = support.view(len(episode.queries), self.shots, *query.shape[1:])  # (B, K, 3, H, W)
                loss = network.pair_loss(query, support)
                if not torch.isfinite(loss):
                    raise TrainingError(f"RegAD's registration loss is {loss.item()} at step {steps}; "
                                        "lower method.lr")  # fmt: skip
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, count, steps = total + loss.item(), count + 1, steps + 1
                if self.steps is not None and steps >= self.steps:
                    break
            if on_epoch is not None:
                on_epoch(epoch, total / max(count, 1))
            if self.steps is not None and steps >= self.steps:
                break
        return steps


def registration_file(source: str, category: str) -> Path:
    """The checkpoint file `source` names for `category`: the file itself, or in a RegAD job's output folder
    `<folder>/<category>/registration.pt`, else `<folder>/registration.pt`."""
    path = Path(source)
    tried = [path / category / CHECKPOINT_FILE, path / CHECKPOINT_FILE] if path.is_dir() else [path]
    found = next((p for p in tried if p.is_file()), None)
    if found is None:
        where = ", ".join(map(str, tried))
        raise CheckpointError(f"method.registration: no registration network at {where}; give a "
                              f"{CHECKPOINT_FILE}, or the output folder of a RegAD job")  # fmt: skip
    return found


def save_registration(folder: Path, network: FeatureRegistration, meta: dict[str, Any]) -> Path:
    """Write `<folder>/registration.pt` ({"meta": ..., "state": state dict}) atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    path, partial = folder / CHECKPOINT_FILE, folder / (CHECKPOINT_FILE + ".partial")
    torch.save({"meta": meta, "state": clean_state(network.state_dict())}, partial)
    os.replace(partial, path)
    return path


def read_registration(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(meta, state dict) of a registration checkpoint; CheckpointError for any other file."""
    saved = load_file(path)
    if not isinstance(saved, dict) or not isinstance(saved.get("meta"), dict) or "state" not in saved:
        raise CheckpointError(f"method.registration {str(path)!r} is no RegAD registration checkpoint")
    return saved["meta"], saved["state"]
