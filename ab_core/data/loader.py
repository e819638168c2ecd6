"""Opening a `DataSpec` as a dataset and iterating it in deterministic, resumable batches."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader

from ab_core.contracts import Batch
from ab_core.data.anomaly_sets import is_anomaly_kind, layout_of, open_anomaly
from ab_core.data.cache import CachedDataset
from ab_core.data.classes import filter_classes
from ab_core.data.dataset import FileDataset, ImageDataset, Sample
from ab_core.data.image_folder import open_image_folder
from ab_core.data.torchvision_sets import open_torchvision
from ab_core.data.verify import verify_files
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec

__all__ = ["Sample", "ImageDataset", "open_dataset", "categories", "steps_per_epoch", "make_loader"]


def open_dataset(
    data: DataSpec, split: Literal["train", "test"], category: str | None = None, seed: int = 0
) -> ImageDataset:
    """The dataset `data` describes, its files checked (readable, masks the size of their images).

    Anomaly kinds: with a category, that category's split (good 0 / defective 1, masks); with None, every
    selected category as one class (mvtec: joined as good / defective). `seed` picks the hold-outs of
    layouts without a test split.
    """
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r}; accepted: train, test")
    if data.dataset == "image_folder":
        dataset: ImageDataset = open_image_folder(data, split, seed)
    elif is_anomaly_kind(data.dataset):
        dataset = open_anomaly(data, split, category, seed)
    else:
        dataset = filter_classes(open_torchvision(data, split), data, f"{data.dataset} in {data.root!r}")
    if isinstance(dataset, FileDataset):
        where = f"{data.dataset} {split} split" + (f" of category {category!r}" if category else "")
        verify_files(dataset.items, where)
    return CachedDataset(dataset) if data.cache == "memory" else dataset


def categories(data: DataSpec) -> list[str]:
    """Anomaly kinds: the selected categories (data.categories / classes / exclude_classes, else all found
    under data.root); other kinds: []."""
    if not is_anomaly_kind(data.dataset):
        return []
    return layout_of(data).selected(data)


def steps_per_epoch(dataset: ImageDataset, batch_size: int, drop_last: bool = True) -> int:
    """Batches in one epoch; DataError when drop_last leaves none."""
    if batch_size < 1:
        raise DataError(f"batch_size {batch_size} must be >= 1")
    if drop_last:
        if len(dataset) < batch_size:
            raise DataError(
                f"the dataset has {len(dataset)} images, fewer than one batch of {batch_size}; "
                f"lower data.batch_size to at most {len(dataset)}"
            )
        return len(dataset) // batch_size
    return -(-len(dataset) // batch_size)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator seeded from (seed, epoch) alone, so each epoch's order is reproducible on its own."""
    key = hashlib.sha256(f"ab_core.data:{seed}:{epoch}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(key[:8], "little") >> 1)


def batch_indices(
    size: int, batch_size: int, *, seed: int, epoch: int, shuffle: bool, drop_last: bool
) -> list[list[int]]:
    """Every batch's dataset indices for one epoch, in order."""
    order = torch.randperm(size, generator=epoch_generator(seed, epoch)) if shuffle else torch.arange(size)
    stop = size - size % batch_size if drop_last else size
    return [order[start : start + batch_size].tolist() for start in range(0, stop, batch_size)]


def _whole_batch(batch: Any) -> Batch:
    return batch  # __getitems__ already built the Batch


class BatchLoader:
    """One epoch of `Batch`es; `len()` is the number of batches still to come."""

    def __init__(self, dataset: ImageDataset, batches: list[list[int]], num_workers: int):
        self.dataset = dataset
        self.batches = batches
        self.num_workers = 0 if isinstance(dataset, CachedDataset) else num_workers  # cached: plain indexing

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Batch]:
        if self.num_workers == 0:
            for indices in self.batches:
                yield self.dataset.__getitems__(indices)
            return
        loader = DataLoader(
            self.dataset,
            batch_sampler=self.batches,
            collate_fn=_whole_batch,
            num_workers=self.num_workers,
        )
        yield from loader


def make_loader(
    dataset: ImageDataset,
    batch_size: int,
    *,
    seed: int,
    epoch: int = 0,
    start_batch: int = 0,
    shuffle: bool = True,
    drop_last: bool = True,
    num_workers: int = 0,
) -> BatchLoader:
    """Epoch `epoch`'s batches from `start_batch` on; the order depends only on (seed, epoch).

    Skipped batches are never decoded, so resuming mid-epoch costs nothing.
    """
    total = steps_per_epoch(dataset, batch_size, drop_last)
    if not 0 <= start_batch <= total:
        raise DataError(f"start_batch {start_batch} is outside the epoch's 0..{total} batches")
    batches = batch_indices(
        len(dataset), batch_size, seed=seed, epoch=epoch, shuffle=shuffle, drop_last=drop_last
    )
    return BatchLoader(dataset, batches[start_batch:], num_workers)
