"""What the loops need from a method: `Pretrainer.training_step` and `Evaluator.fit` / `score`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ab_core.distributed import World
from ab_core.spec_sections import BackboneSpec, DataSpec


@dataclass
class Batch:
    """One batch as the data loaders give it: decoded, centre-cropped, not yet normalised."""

    images: Tensor  # (B, 3, H, W) uint8
    labels: Tensor  # (B,) int64; class index, or 0 = good / 1 = defective for anomaly test sets
    masks: Tensor | None = None  # (B, 1, H, W) uint8 0/1 defect masks where the dataset has them
    paths: list[str] = field(default_factory=list)

    def to(self, device: torch.device) -> Batch:
        masks = None if self.masks is None else self.masks.to(device, non_blocking=True)
        return Batch(self.images.to(device, non_blocking=True), self.labels.to(device), masks, self.paths)


@dataclass(frozen=True)
class BuildContext:
    """What a method builder may read besides its own params."""

    backbone: BackboneSpec
    data: DataSpec
    num_classes: int
    device: torch.device
    seed: int
    world: World = World()  # rank and size when data-parallel (e.g. SimCLR gathers negatives)
    category: str | None = None  # anomaly evaluators: the category under test (RegAD trains on the others)
    out_dir: Path | None = None  # that category's output folder, where an evaluator may save what it trained


class Pretrainer(nn.Module):
    """Base of the pretraining methods: holds `backbone` (what gets exported) and any heads."""

    backbone: nn.Module

    def forward(self, batch: Batch) -> Tensor:
        """`training_step`, so that a DistributedDataParallel wrapper sees the call and syncs gradients."""
        return self.training_step(batch)

    def training_step(self, batch: Batch) -> Tensor:
        """The scalar loss of one micro-batch; the loop does backward, accumulation and the step."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after each optimiser step (momentum teachers, queues); nothing by default."""

    def step_metrics(self) -> dict[str, float]:
        """Extra metrics of the last training_step (e.g. top-1); none by default."""
        return {}

    def on_report(self, metrics: dict[str, Any]) -> list[str]:
        """Sees each report's metrics before they go out; returns warnings to send with that report
        (e.g. SimSiam's collapse monitor). None by default."""
        return []

    def result_flags(self) -> dict[str, bool]:
        """Verdicts the run's result carries beside its metrics, e.g. `{"collapsed": False}`; each report
        carries them too, so the service's result (built from the last report) has them. None by default."""
        return {}

    def head_state(self) -> dict[str, Tensor]:
        """State of the heads saved beside the backbone (projection head, classifier)."""
        return {}


class Evaluator(Protocol):
    """An evaluator fits on normal / training data and scores batches; it never trains the backbone."""

    def fit(self, batches: Iterable[Batch]) -> None: ...

    def score(self, batch: Batch) -> dict[str, Tensor]: ...


@runtime_checkable
class RepeatedEvaluator(Evaluator, Protocol):
    """An evaluator scored over several seeded draws after one `fit` (RegAD: one k-shot support set per
    draw). The loop calls `draw(i)` for i in range(draws), scores the whole test set after each, and
    reports each metric's mean over the draws with its standard deviation beside it (`<metric>_std`);
    results.json lists every draw with what `draw` returned (e.g. the support images) and its metrics,
    after the `fit_record` (e.g. where the trained part was saved)."""

    draws: int
    fit_record: dict[str, Any]

    def draw(self, index: int) -> dict[str, Any]: ...
