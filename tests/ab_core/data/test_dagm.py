"""DAGM 2007: Labels.txt and *_label.PNG masks; per class an anomaly set, all classes a pretraining set."""

from __future__ import annotations

from pathlib import Path

import pytest

from ab_core.data.loader import categories, open_dataset
from ab_core.errors import DataError
from ab_core.specs import DataSpec


def _spec(root: Path, **extra: object) -> DataSpec:
    return DataSpec(dataset="dagm", root=str(root), resize=16, crop=16, cache="none", **extra)


def test_classes_are_in_numeric_order(dagm_root: Path) -> None:
    assert categories(_spec(dagm_root)) == ["Class1", "Class2", "Class10"]


def test_per_class_train_is_defect_free_and_test_follows_labels_txt(dagm_root: Path) -> None:
    train = open_dataset(_spec(dagm_root), "train", "Class2")
    assert [Path(train[i].path).name for i in range(len(train))] == ["0001.PNG", "0002.PNG", "0004.PNG"]
    test = open_dataset(_spec(dagm_root), "test", "Class2")
    assert test.labels() == [0, 1, 0, 1]
    assert [int(test[i].mask.sum()) for i in range(4)] == [0, 16, 0, 16]


def test_without_a_category_every_class_is_one_label_defects_included(dagm_root: Path) -> None:
    train = open_dataset(_spec(dagm_root, exclude_classes=["Class10"]), "train")
    assert train.classes == ["Class1", "Class2"]
    assert train.labels() == [0] * 4 + [1] * 4
    assert train[0].mask is None


def test_a_missing_labels_file_is_named(dagm_root: Path) -> None:
    labels = dagm_root / "Class1" / "Test" / "Label" / "Labels.txt"
    labels.unlink()
    with pytest.raises(DataError, match=rf"'{labels}' does not exist"):
        open_dataset(_spec(dagm_root), "test", "Class1")


def test_a_labels_row_naming_no_image_is_named_with_its_line(dagm_root: Path) -> None:
    (dagm_root / "Class1" / "Train" / "0002.PNG").unlink()
    with pytest.raises(DataError, match=r"Train/Label/Labels.txt' line 3 names '0002.PNG'"):
        open_dataset(_spec(dagm_root), "train", "Class1")
