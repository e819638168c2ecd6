"""One module per method that `bench/evaluators_vs_anomalib.py` compares with anomalib; the driver finds them.

A module here (e.g. `cflow.py`) defines:

    NAME = "cflow"                              # the method, as registered
    def add_arguments(parser) -> None: ...      # optional: its own options, named --<NAME>-...
    def ours(state, args) -> Impl: ...          # this project's model, backbone weights `state` loaded
    def anomalib(state, args) -> Impl: ...      # anomalib's torch model, the same weights loaded

where `Impl` has `fit(batches)` (batches: a re-iterable of normalised (B, 3, H, W) tensors; iterate it
once per epoch) and `score(images) -> (image scores (B,), anomaly maps (B, 1, H, W))`. `state` is a
ResNet state dict with torchvision names (no fc); `args` the driver's parsed options (`args.arch`,
`args.crop`, `args.seed`, `args.device`, and each module's own). Both run under `torch.no_grad()`
only if the module says so: a method that trains enables gradients itself.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn


class Impl(Protocol):
    def fit(self, batches) -> None: ...

    def score(self, images: Tensor) -> tuple[Tensor, Tensor]: ...


def load_timm(extractor: nn.Module, state: dict[str, Tensor]) -> None:
    """Load torchvision-named ResNet weights into anomalib's `TimmFeatureExtractor` (its timm
    features-only net has the same names, minus the layers it does not run)."""
    target = extractor.feature_extractor
    keys = set(target.state_dict())
    target.load_state_dict({k: v for k, v in state.items() if k in keys}, strict=True)


def seeded(seed: int) -> None:
    """Seed every generator anomalib draws from (torch, numpy's global one for sklearn, random)."""
    import random

    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


class OnePass:
    """Ours for a detector fitted in one pass (PaDiM, PatchCore): `update` per batch, `finish`, then score."""

    def __init__(self, model: nn.Module):
        self.model = model

    @torch.no_grad()
    def fit(self, batches) -> None:
        for images in batches:
            self.model.update(images)
        self.model.finish()

    @torch.no_grad()
    def score(self, images: Tensor) -> tuple[Tensor, Tensor]:
        return self.model(images)


def scored(out) -> tuple[Tensor, Tensor]:
    """anomalib's `InferenceBatch` -> (image scores, anomaly maps)."""
    return out.pred_score, out.anomaly_map
