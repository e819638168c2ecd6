"""AITEX: fabrics as categories, wide images cut into tiles whose masks are the same boxes of the mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ab_core.data.aitex import tile_boxes
from ab_core.data.loader import categories, open_dataset
from ab_core.errors import DataError
from ab_core.specs import DataSpec


def _spec(root: Path, **extra: object) -> DataSpec:
    return DataSpec(dataset="aitex", root=str(root), resize=16, crop=16, tile=16, cache="none", **extra)


def test_tiles_cover_the_image_left_to_right_with_the_stride() -> None:
    assert tile_boxes(64, 16, 16, 16) == [(0, 0, 16, 16), (16, 0, 32, 16), (32, 0, 48, 16), (48, 0, 64, 16)]
    assert tile_boxes(64, 16, 16, 24) == [(0, 0, 16, 16), (24, 0, 40, 16), (48, 0, 64, 16)]


def test_defect_tiles_keep_image_and_mask_aligned(aitex_root: Path) -> None:
    assert categories(_spec(aitex_root)) == ["fabric00", "fabric01"]
    test = open_dataset(_spec(aitex_root, test_fraction=0.0), "test", "fabric00")
    assert len(test) == 4  # no clean image held out: the 4 tiles of the defective one
    source = np.array(Image.open(aitex_root / "Defect_images" / "0020_002_00.png"))  # (16, 64, 3)
    mask = np.asarray(Image.open(aitex_root / "Mask_images" / "0020_002_00_mask.png")) > 0  # (16, 64)
    for i in range(4):
        sample = test[i]
        left = i * 16
        assert sample.path.endswith(f"0020_002_00.png@{left},0")
        assert torch.equal(sample.image, torch.from_numpy(source[:, left : left + 16]).permute(2, 0, 1))
        assert torch.equal(sample.mask[0].bool(), torch.from_numpy(mask[:, left : left + 16]))
    assert test.labels() == [0, 0, 1, 1]  # the defect spans x 40-56: tiles 2 and 3


def test_clean_images_are_tiled_and_held_out_by_image(aitex_root: Path) -> None:
    spec = _spec(aitex_root, test_fraction=0.34)
    train, test = open_dataset(spec, "train", "fabric00"), open_dataset(spec, "test", "fabric00")
    assert len(train) == 2 * 4 and test.labels()[:4] == [0, 0, 0, 0] and len(test) == 4 + 4
    held = {test[i].path.split("@")[0] for i in range(4)}
    assert len(held) == 1 and held.isdisjoint(train[i].path.split("@")[0] for i in range(len(train)))


def test_as_a_pretraining_set_each_fabric_is_a_class(aitex_root: Path) -> None:
    train = open_dataset(_spec(aitex_root, test_fraction=0.0), "train")
    assert train.classes == ["fabric00", "fabric01"] and train.labels() == [0] * 12 + [1] * 8


def test_a_file_not_named_nnnn_ddd_ff_is_named(aitex_root: Path, write) -> None:
    odd = write.image(aitex_root / "NODefect_images" / "2311694-2040n7u" / "extra.png", size=(64, 16))
    with pytest.raises(DataError, match=rf"'{odd}' is not named nnnn_ddd_ff.png"):
        open_dataset(_spec(aitex_root), "train", "fabric00")
