"""Tiny CPU inputs for the method tests: a build context on 32 px images and a random uint8 batch."""

from __future__ import annotations

import torch

from ab_core.contracts import Batch, BuildContext
from ab_core.spec_sections import BackboneSpec, DataSpec


def make_ctx(num_classes: int = 3, size: int = 32) -> BuildContext:
    data = DataSpec(dataset="image_folder", root="unused", resize=size, crop=size)
    return BuildContext(BackboneSpec(), data, num_classes=num_classes, device=torch.device("cpu"), seed=0)


def make_batch(size: int = 4, pixels: int = 32) -> Batch:
    images = torch.randint(0, 256, (size, 3, pixels, pixels), dtype=torch.uint8)
    return Batch(images, torch.zeros(size, dtype=torch.int64))
