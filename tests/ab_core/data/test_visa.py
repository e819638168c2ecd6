"""The VisA layout: the published split file honoured, a seeded split without it, 0/255 and 0/1 masks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ab_core.data.loader import categories, open_dataset
from ab_core.errors import DataError
from ab_core.specs import DataSpec


def _spec(root: Path, **extra: object) -> DataSpec:
    return DataSpec(dataset="visa", root=str(root), resize=16, crop=16, cache="none", **extra)


def _names(dataset) -> list[str]:
    return [Path(dataset[i].path).name for i in range(len(dataset))]


def test_categories_are_the_folders_with_data_images_normal(visa_root: Path) -> None:
    assert categories(_spec(visa_root)) == ["candle", "pcb1"]


def test_the_split_file_decides_train_and_test(visa_root: Path, visa_split: Path) -> None:
    train = open_dataset(_spec(visa_root), "train", "candle")
    test = open_dataset(_spec(visa_root), "test", "candle")
    assert _names(train) == ["0000.JPG", "0001.JPG", "0002.JPG"]  # 0004 is in no row: not used
    assert _names(test) == ["0003.JPG", "000.JPG", "001.JPG"]
    assert test.labels() == [0, 1, 1]
    assert test.missing_masks == []


def test_without_a_split_file_a_seeded_fraction_of_normals_is_held_out(visa_root: Path) -> None:
    spec = _spec(visa_root, test_fraction=0.4)
    train, test = open_dataset(spec, "train", "pcb1", seed=1), open_dataset(spec, "test", "pcb1", seed=1)
    assert len(train) == 3 and test.labels() == [0, 0, 1, 1]  # round(0.4 * 5) normals + both anomalies
    assert set(_names(train)).isdisjoint(_names(test))
    assert _names(test) == _names(open_dataset(spec, "test", "pcb1", seed=1))


def test_masks_of_0_255_and_of_0_1_both_read_as_defect(visa_root: Path, visa_split: Path) -> None:
    test = open_dataset(_spec(visa_root), "test", "candle")
    masks = [test[i].mask for i in range(len(test))]
    assert all(m is not None for m in masks)
    assert [int(m.sum()) for m in masks] == [0, 16, 16]  # 000.png is 0/255, 001.png is 0/1; a 4x4 defect


def test_a_split_file_row_naming_a_missing_image_names_both(visa_root: Path, visa_split: Path) -> None:
    (visa_root / "candle" / "Data" / "Images" / "Normal" / "0001.JPG").unlink()
    with pytest.raises(DataError, match=r"1cls.csv.*line 3.*candle/Data/Images/Normal/0001.JPG"):
        open_dataset(_spec(visa_root), "train", "candle")


def test_a_mask_of_another_size_is_named_before_any_batch(visa_root: Path, write) -> None:
    mask = write.mask(visa_root / "pcb1" / "Data" / "Masks" / "Anomaly" / "000.png", size=(20, 16))
    with pytest.raises(DataError, match=rf"mask '{mask}' is 20x16 but image .*000.JPG' is 16x16"):
        open_dataset(_spec(visa_root), "test", "pcb1")
