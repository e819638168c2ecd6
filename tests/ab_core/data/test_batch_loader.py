"""Batches: deterministic per (seed, epoch), resumable mid-epoch, identical with and without the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from ab_core.data.dataset import ImageDataset, Sample
from ab_core.data.loader import BatchLoader, make_loader, open_dataset, steps_per_epoch
from ab_core.errors import DataError
from ab_core.specs import DataSpec


def _classes(root: Path, cache: str = "none", **extra: object) -> DataSpec:
    folder = str(root / "classes")
    return DataSpec(dataset="image_folder", root=folder, resize=32, crop=32, cache=cache, **extra)


class CountingDataset(ImageDataset):
    """Records which items were decoded."""

    def __init__(self, size: int):
        self.classes = ["only"]
        self.missing_masks = []
        self.decoded: list[int] = []
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> Sample:
        self.decoded.append(i)
        return Sample(torch.full((3, 4, 4), i, dtype=torch.uint8), i, None, str(i))


def _paths(batches: list | BatchLoader) -> list[list[str]]:
    return [b.paths for b in batches]


def test_order_depends_only_on_seed_and_epoch() -> None:
    dataset = CountingDataset(20)
    first = _paths(list(make_loader(dataset, 4, seed=7, epoch=2)))
    assert first == _paths(list(make_loader(dataset, 4, seed=7, epoch=2)))
    assert first != _paths(list(make_loader(dataset, 4, seed=7, epoch=3)))
    assert first != _paths(list(make_loader(dataset, 4, seed=8, epoch=2)))
    assert sorted(p for batch in first for p in batch) == sorted(str(i) for i in range(20))


def test_start_batch_gives_the_tail_of_the_full_epoch_without_decoding_skipped_batches() -> None:
    dataset = CountingDataset(22)
    full = list(make_loader(dataset, 4, seed=1, epoch=5))
    dataset.decoded.clear()
    resumed = list(make_loader(dataset, 4, seed=1, epoch=5, start_batch=2))
    assert len(full) == 5 and len(resumed) == 3
    assert _paths(resumed) == _paths(full[2:])
    assert all(torch.equal(a.images, b.images) for a, b in zip(resumed, full[2:], strict=True))
    assert len(dataset.decoded) == 3 * 4


def test_drop_last_false_keeps_the_partial_batch_and_shuffle_false_keeps_order() -> None:
    batches = list(make_loader(CountingDataset(10), 4, seed=0, shuffle=False, drop_last=False))
    assert [b.labels.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0].images.shape == (4, 3, 4, 4) and batches[0].masks is None


def test_steps_per_epoch_counts_batches_and_refuses_a_dataset_smaller_than_a_batch() -> None:
    assert steps_per_epoch(CountingDataset(10), 4) == 2
    assert steps_per_epoch(CountingDataset(10), 4, drop_last=False) == 3
    with pytest.raises(DataError, match="fewer than one batch of 16"):
        steps_per_epoch(CountingDataset(10), 16)


def test_start_batch_past_the_epoch_is_refused() -> None:
    with pytest.raises(DataError, match="start_batch 4"):
        make_loader(CountingDataset(10), 4, seed=0, start_batch=4)


def test_memory_cache_gives_the_same_batches_as_decoding_each_file(synth_root: Path) -> None:
    spec = DataSpec(dataset="mvtec", root=str(synth_root / "mvtec"), resize=36, crop=32, cache="none")
    plain = open_dataset(spec, "test", category="bottle")
    cached = open_dataset(spec.model_copy(update={"cache": "memory"}), "test", category="bottle")
    assert len(cached) == len(plain) and cached.classes == plain.classes
    for a, b in zip(make_loader(plain, 3, seed=4), make_loader(cached, 3, seed=4), strict=True):
        assert a.paths == b.paths
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
        assert a.masks is not None and b.masks is not None and torch.equal(a.masks, b.masks)
    assert cached.fingerprint() == plain.fingerprint()


def test_worker_processes_give_the_same_batches(synth_root: Path) -> None:
    dataset = open_dataset(_classes(synth_root), "train")
    in_process = list(make_loader(dataset, 8, seed=2, epoch=1))
    workers = list(make_loader(dataset, 8, seed=2, epoch=1, num_workers=1))
    assert _paths(workers) == _paths(in_process)
    assert all(torch.equal(a.images, b.images) for a, b in zip(workers, in_process, strict=True))


def test_fingerprint_changes_with_geometry_and_files_but_not_with_the_cache(
    synth_root: Path, tmp_path: Path
) -> None:
    spec = _classes(synth_root)
    base = open_dataset(spec, "train").fingerprint()
    assert base == open_dataset(_classes(synth_root, cache="memory"), "train").fingerprint()
    assert base != open_dataset(spec.model_copy(update={"crop": 30}), "train").fingerprint()
    assert base != open_dataset(spec.model_copy(update={"test_fraction": 0.5}), "train").fingerprint()
    shutil.copytree(synth_root / "classes", tmp_path / "classes")
    copy = _classes(tmp_path, test_fraction=0.0)  # every file in train
    before = open_dataset(copy, "train").fingerprint()
    assert before == open_dataset(copy, "train").fingerprint()
    Image.new("RGB", (40, 40)).save(next((tmp_path / "classes" / "wood").iterdir()))
    assert open_dataset(copy, "train").fingerprint() != before
