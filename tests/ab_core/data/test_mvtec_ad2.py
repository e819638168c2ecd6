"""The MVTec AD 2 layout: train/good, test_public with *_mask.png, private test sets reported unscored."""

from __future__ import annotations

from pathlib import Path

import pytest

from ab_core.data.anomaly_sets import unscored_splits
from ab_core.data.loader import categories, open_dataset
from ab_core.errors import DataError
from ab_core.specs import DataSpec


def _spec(root: Path) -> DataSpec:
    return DataSpec(dataset="mvtec_ad2", root=str(root), resize=16, crop=16, cache="none")


def test_train_is_train_good_and_test_is_test_public_with_masks(mvtec_ad2_root: Path) -> None:
    assert categories(_spec(mvtec_ad2_root)) == ["can"]
    train = open_dataset(_spec(mvtec_ad2_root), "train", "can")
    test = open_dataset(_spec(mvtec_ad2_root), "test", "can")
    assert len(train) == 3 and all("/train/good/" in train[i].path for i in range(3))
    assert test.labels() == [0, 1, 1]
    masks = [test[i].mask for i in range(3)]
    assert [int(m.sum()) for m in masks if m is not None] == [0, 16, 16]
    assert not any("validation" in test[i].path or "private" in test[i].path for i in range(3))


def test_private_test_sets_are_unscored_with_the_reason(mvtec_ad2_root: Path) -> None:
    unscored = unscored_splits(_spec(mvtec_ad2_root))
    assert set(unscored) == {"can/test_private", "can/test_private_mixed"}
    assert "no public ground truth" in unscored["can/test_private"]
    assert unscored["can/test_private"].startswith("1 images")


def test_a_missing_mask_is_recorded_by_image(mvtec_ad2_root: Path) -> None:
    (mvtec_ad2_root / "can" / "test_public" / "ground_truth" / "bad" / "001_regular_mask.png").unlink()
    test = open_dataset(_spec(mvtec_ad2_root), "test", "can")
    assert test.missing_masks == [str(mvtec_ad2_root / "can" / "test_public" / "bad" / "001_regular.png")]


def test_an_empty_train_folder_is_named(mvtec_ad2_root: Path) -> None:
    for path in (mvtec_ad2_root / "can" / "train" / "good").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"can/train/good' holds no images"):
        open_dataset(_spec(mvtec_ad2_root), "train", "can")
