"""The memory cache: every image decoded once, in parallel, into one uint8 tensor; a batch is one index."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

from ab_core.contracts import Batch
from ab_core.data.dataset import ImageDataset, Sample
from ab_core.errors import DataError


def decode_threads() -> int:
    """The CPUs this process may use (PIL releases the GIL while decoding, so threads scale)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class CachedDataset(ImageDataset):
    """`base` decoded once into (N, 3, H, W) uint8 (+ (N, 1, H, W) masks); items and batches are views."""

    def __init__(self, base: ImageDataset):
        self.base = base
        self.classes = base.classes
        self.missing_masks = base.missing_masks
        count = len(base)
        if count == 0:
            raise DataError("cannot cache an empty dataset")
        first = base[0]
        self.images = torch.empty((count, *first.image.shape), dtype=torch.uint8)  # (N, 3, H, W)
        mask_shape = None if first.mask is None else (count, *first.mask.shape)  # (N, 1, H, W)
        self.masks = None if mask_shape is None else torch.empty(mask_shape, dtype=torch.uint8)
        labels = [0] * count
        self.paths = [""] * count

        def store(i: int) -> bool:  # written into preallocated slots: no second copy of the dataset
            sample = first if i == 0 else base[i]
            self.images[i] = sample.image
            labels[i] = sample.label
            self.paths[i] = sample.path
            if self.masks is not None and sample.mask is not None:
                self.masks[i] = sample.mask
            return sample.mask is not None

        with ThreadPoolExecutor(max_workers=decode_threads()) as pool:
            with_mask = list(pool.map(store, range(count)))
        if not all(with_mask):
            self.masks = None  # masks are stacked only when every image has one
        self.labels_tensor = torch.tensor(labels, dtype=torch.int64)  # (N,)
        self.has_masks = self.masks is not None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Sample:
        mask = None if self.masks is None else self.masks[i]
        return Sample(self.images[i], int(self.labels_tensor[i]), mask, self.paths[i])

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        index = torch.as_tensor(list(indices), dtype=torch.int64)  # (B,)
        return Batch(
            images=self.images[index],  # (B, 3, H, W)
            labels=self.labels_tensor[index],  # (B,)
            masks=None if self.masks is None else self.masks[index],  # (B, 1, H, W)
            paths=[self.paths[i] for i in index.tolist()],
        )

    def labels(self) -> list[int]:
        return self.labels_tensor.tolist()

    def fingerprint(self) -> str:
        return self.base.fingerprint()
