"""STL10 / CIFAR10: a clear error when absent offline, and the arrays wrapped as an ImageDataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ab_core.data import torchvision_sets
from ab_core.data.loader import make_loader, open_dataset
from ab_core.errors import DataError
from ab_core.specs import DataSpec

FOLDERS = [("stl10", "stl10_binary"), ("cifar10", "cifar-10-batches-py")]


@pytest.mark.parametrize(("dataset", "folder"), FOLDERS)
def test_missing_dataset_offline_says_where_it_looked_and_how_to_download(
    tmp_path: Path, dataset: str, folder: str
) -> None:
    spec = DataSpec(dataset=dataset, root=str(tmp_path), resize=32, crop=32)
    with pytest.raises(DataError) as error:
        open_dataset(spec, "train")
    assert str(tmp_path / folder) in str(error.value) and "data.download: true" in str(error.value)


class FakeCIFAR10:
    """Stands in for torchvision's CIFAR10, which cannot be downloaded here: same attributes."""

    classes = ["airplane", "automobile"]

    def __init__(self, root: str, train: bool, download: bool):
        generator = np.random.default_rng(0 if train else 1)
        self.data = generator.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
        self.targets = [0, 1, 0, 1, 1, 0]


def test_cifar_arrays_become_cached_batches_at_the_spec_geometry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from torchvision import datasets

    monkeypatch.setattr(datasets, "CIFAR10", FakeCIFAR10)
    same = open_dataset(DataSpec(dataset="cifar10", root=str(tmp_path), resize=32, crop=32), "test")
    assert same.classes == ["airplane", "automobile"] and same.labels() == [0, 1, 0, 1, 1, 0]
    expected = torch.from_numpy(FakeCIFAR10(str(tmp_path), False, False).data).permute(0, 3, 1, 2)
    assert torch.equal(same.__getitems__(list(range(6))).images, expected)
    smaller = open_dataset(
        DataSpec(dataset="cifar10", root=str(tmp_path), resize=24, crop=16, cache="none"), "train"
    )
    batch = next(iter(make_loader(smaller, 4, seed=0)))
    assert batch.images.shape == (4, 3, 16, 16) and batch.masks is None
    assert isinstance(smaller, torchvision_sets.ArrayDataset) and len(smaller.fingerprint()) == 64
