"""`Sample` and `ImageDataset`: what every dataset kind returns, plus the file-backed dataset."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ab_core.contracts import Batch
from ab_core.data.images import Box, decode, load_mask


@dataclass
class Sample:
    image: Tensor  # (3, H, W) uint8
    label: int
    mask: Tensor | None  # (1, H, W) uint8 0/1, or None where the dataset has no masks
    path: str


def collate(samples: Sequence[Sample]) -> Batch:
    """One Batch from samples; masks stacked only when every sample has one."""
    masks = [s.mask for s in samples if s.mask is not None]
    return Batch(
        images=torch.stack([s.image for s in samples]),  # (B, 3, H, W)
        labels=torch.tensor([s.label for s in samples], dtype=torch.int64),  # (B,)
        masks=torch.stack(masks) if masks and len(masks) == len(samples) else None,  # (B, 1, H, W)
        paths=[s.path for s in samples],
    )


class ImageDataset(Dataset[Sample]):
    """A list of decoded, centre-cropped images with labels (and masks where the dataset has them).

    `__getitems__` (called by torch's DataLoader for a whole batch) returns a ready `Batch`.
    `missing_masks` lists defect images whose mask file was absent: they carry an all-zero mask, and
    evaluators should skip their pixel metrics.
    """

    classes: list[str]
    missing_masks: list[str]

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> Sample:
        raise NotImplementedError

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        return collate([self[int(i)] for i in indices])

    def labels(self) -> list[int]:
        """Every item's label, without decoding images."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class FileItem:
    path: Path
    label: int
    mask_path: Path | None = None  # set where the item has a mask file
    zero_mask: bool = False  # an all-zero mask (good test images, or a defect whose mask is missing)
    box: Box | None = None  # a tile of the file (left, top, right, bottom); None = the whole image


def item_name(item: FileItem) -> str:
    """The file's path, with "@left,top" for a tile."""
    return str(item.path) if item.box is None else f"{item.path}@{item.box[0]},{item.box[1]}"


def fingerprint_files(root: Path, items: Sequence[FileItem], resize: int, crop: int) -> str:
    """sha256 over the sorted relative paths, file sizes, labels and mask files, plus resize / crop."""
    digest = hashlib.sha256(f"resize={resize};crop={crop}\n".encode())
    lines = []
    for item in items:
        mask = "" if item.mask_path is None else item.mask_path.relative_to(root).as_posix()
        rel = item.path.relative_to(root).as_posix()
        line = f"{rel}\t{item.path.stat().st_size}\t{item.label}\t{mask}\t{int(item.zero_mask)}"
        lines.append(line if item.box is None else f"{line}\t{item.box}")
    for line in sorted(lines):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


class FileDataset(ImageDataset):
    """Images read from files on every access (no cache)."""

    def __init__(
        self,
        root: Path,
        items: Sequence[FileItem],
        classes: list[str],
        resize: int,
        crop: int,
        missing_masks: list[str] | None = None,
    ):
        self.root = root
        self.items = list(items)
        self.classes = classes
        self.resize = resize
        self.crop = crop
        self.missing_masks = missing_masks or []
        self.has_masks = any(item.mask_path is not None or item.zero_mask for item in self.items)
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Sample:
        item = self.items[i]
        image = decode(item.path, self.resize, self.crop, item.box)  # (3, crop, crop)
        mask = None
        if item.mask_path is not None:
            mask = load_mask(item.mask_path, self.resize, self.crop, item.box)  # (1, crop, crop)
        elif item.zero_mask:
            mask = torch.zeros(1, self.crop, self.crop, dtype=torch.uint8)
        return Sample(image, item.label, mask, item_name(item))

    def labels(self) -> list[int]:
        return [item.label for item in self.items]

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint_files(self.root, self.items, self.resize, self.crop)
        return self._fingerprint
