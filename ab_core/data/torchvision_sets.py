"""STL10 and CIFAR10 through torchvision: found on disk (or downloaded when asked), as an `ImageDataset`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from ab_core.data.dataset import ImageDataset, Sample
from ab_core.data.images import fit, rgb_to_tensor
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec

# torchvision's folder under data.root for each dataset
_FOLDERS = {"stl10": "stl10_binary", "cifar10": "cifar-10-batches-py"}


class ArrayDataset(ImageDataset):
    """Images held in one (N, H, W, 3) uint8 array, fitted to resize / crop on access."""

    def __init__(
        self,
        name: str,
        arrays: np.ndarray,
        labels: list[int],
        classes: list[str],
        resize: int,
        crop: int,
        source_files: list[Path] | None = None,
    ):
        self.name = name
        self.arrays = arrays  # (N, H, W, 3) uint8
        self._labels = labels
        self.classes = classes
        self.resize = resize
        self.crop = crop
        self.missing_masks = []
        self.has_masks = False
        self.source_files = source_files or []

    def __len__(self) -> int:
        return len(self.arrays)

    def image(self, i: int) -> torch.Tensor:
        array = self.arrays[i]  # (H, W, 3)
        if min(array.shape[:2]) == self.resize == self.crop and array.shape[0] == array.shape[1]:
            return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).contiguous()
        return rgb_to_tensor(fit(Image.fromarray(array), self.resize, self.crop))  # (3, crop, crop)

    def __getitem__(self, i: int) -> Sample:
        return Sample(self.image(i), self._labels[i], None, f"{self.name}:{i}")

    def labels(self) -> list[int]:
        return list(self._labels)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.name};n={len(self)};resize={self.resize};crop={self.crop}\n".encode())
        for path in sorted(self.source_files):
            digest.update(f"{path.name}\t{path.stat().st_size}\n".encode())
        return digest.hexdigest()


def open_torchvision(data: DataSpec, split: Literal["train", "test"]) -> ArrayDataset:
    from torchvision import datasets  # lazy: torchvision.datasets imports a lot

    root = Path(data.root)
    folder = root / _FOLDERS[data.dataset]
    try:
        if data.dataset == "stl10":
            raw = datasets.STL10(str(root), split=split, download=data.download)
            arrays = np.ascontiguousarray(raw.data.transpose(0, 2, 3, 1))  # (N, 3, H, W) -> (N, H, W, 3)
            labels = [int(x) for x in raw.labels]
        else:
            raw = datasets.CIFAR10(str(root), train=split == "train", download=data.download)
            arrays = np.asarray(raw.data)  # (N, 32, 32, 3)
            labels = [int(x) for x in raw.targets]
    except RuntimeError as error:  # torchvision: "Dataset not found or corrupted"
        if data.download:
            raise DataError(f"{data.dataset} in {str(folder)!r} unusable after download ({error})") from None
        raise DataError(
            f"{data.dataset} not found in {str(folder)!r} (torchvision's layout under data.root "
            f"{str(root)!r}); put the dataset there, or set data.download: true to download it "
            "(needs internet)"
        ) from None
    except OSError as error:  # download without a network
        raise DataError(
            f"could not download {data.dataset} into {str(root)!r} ({error}); download it on a machine "
            f"with internet and copy {str(folder)!r} here"
        ) from None
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    classes = list(getattr(raw, "classes", [str(i) for i in range(10)]))  # STL10 reads them from a file
    return ArrayDataset(data.dataset, arrays, labels, classes, data.resize, data.crop, files)
