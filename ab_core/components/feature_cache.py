"""Frozen-encoder features computed once per distinct training image and reused across epochs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import torch
from torch import Tensor

FEATURE_CACHE_MB = 1024  # training features kept across epochs up to this size; above it, recomputed

# the store: per layer (n, C_l, h_l, w_l) features of the n distinct images; the plan: per epoch and batch
# the store rows of its images (B,)
FeaturePlan = tuple[list[Tensor], list[list[Tensor]]]


def image_key(image: Tensor) -> bytes:
    """A digest of one image's values: the same image, whatever batch or position it comes in."""
    return hashlib.blake2b(image.detach().cpu().numpy().tobytes(), digest_size=16).digest()


def plan_epochs(features: Callable[[Tensor], list[Tensor]], batches: Iterable[Tensor], epochs: int,
                cache_mb: float) -> FeaturePlan | None:
    """Iterate `batches` `epochs` times; `features` (frozen, eval mode: an image's features do not depend
    on its batch-mates) of each image the first time it is seen -> (store, plan), or None once the store
    passes `cache_mb` MB or there were no images (the passes begun are then spent: a reshuffling loader's
    caller continues with its next orders). The loader may reorder and regroup the images each
    epoch (as `EpochBatches` does): an image is known again by its content, so store[l][plan[e][b]] is
    what `features` of epoch e's batch b gives, to float rounding."""
    rows_of: dict[bytes, int] = {}
    parts: list[list[Tensor]] = []  # per batch with unseen images, per layer
    plan: list[list[Tensor]] = []
    size = 0
    for _ in range(epochs):
        plan.append([])
        for images in batches:
            keys = [image_key(image) for image in images]
            fresh = []
            for i, key in enumerate(keys):
                if key not in rows_of:
                    rows_of[key] = len(rows_of)
                    fresh.append(i)
            if fresh:
                parts.append(features(images if len(fresh) == len(keys) else images[fresh]))
                size += sum(f.numel() * f.element_size() for f in parts[-1])
                if size > cache_mb * 2**20:
                    return None
            plan[-1].append(torch.tensor([rows_of[key] for key in keys], device=images.device))
    if not parts:
        return None
    store = [parts[0][layer] if len(parts) == 1 else torch.cat([part[layer] for part in parts])
             for layer in range(len(parts[0]))]
    return store, plan
