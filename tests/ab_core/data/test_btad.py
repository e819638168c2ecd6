"""The BTAD layout: <nn>/train/ok, test/{ok,ko}, ground_truth/ko with .png or .bmp masks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ab_core.data.check import check_data
from ab_core.data.loader import categories, open_dataset
from ab_core.errors import DataError
from ab_core.specs import DataSpec


def _spec(root: Path) -> DataSpec:
    return DataSpec(dataset="btad", root=str(root), resize=16, crop=16, cache="none")


@pytest.mark.parametrize("category", ["01", "03"])  # 01: .png masks, 03: .bmp masks
def test_ok_is_normal_ko_is_defective_with_its_mask(btad_root: Path, category: str) -> None:
    assert categories(_spec(btad_root)) == ["01", "03"]
    assert open_dataset(_spec(btad_root), "train", category).labels() == [0, 0, 0]
    test = open_dataset(_spec(btad_root), "test", category)
    assert test.labels() == [0, 1, 1] and test.missing_masks == []
    assert [int(test[i].mask.sum()) for i in range(3)] == [0, 16, 16]


def test_a_mask_with_the_wrong_extension_is_named_both_ways(btad_root: Path, write) -> None:
    ground_truth = btad_root / "01" / "ground_truth" / "ko"
    (ground_truth / "0001.png").unlink()
    write.mask(ground_truth / "0001.jpg")
    report = check_data(_spec(btad_root))
    assert report.missing_masks == [str(btad_root / "01" / "test" / "ko" / "0001.bmp")]
    assert report.orphan_masks == [str(ground_truth / "0001.jpg")]
    assert report.ok  # warnings: the image is scored without pixel metrics


def test_an_unreadable_image_fails_before_any_batch_naming_it(btad_root: Path) -> None:
    broken = btad_root / "03" / "train" / "ok" / "0001.bmp"
    broken.write_bytes(b"BM not really a bitmap")
    with pytest.raises(DataError, match=rf"cannot read image file '{broken}'"):
        open_dataset(_spec(btad_root), "train", "03")
