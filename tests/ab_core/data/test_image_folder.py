"""The image_folder layout: class folders, an explicit train/test split, or a seeded hold-out."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ab_core.data.loader import open_dataset
from ab_core.errors import DataError
from ab_core.specs import DataSpec


def _spec(root: Path, **extra: object) -> DataSpec:
    return DataSpec(dataset="image_folder", root=str(root), resize=32, crop=32, cache="none", **extra)


def _write(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(folder / f"{i}.png")


def test_class_folders_without_split_hold_out_a_seeded_disjoint_test_fraction(synth_root: Path) -> None:
    spec = _spec(synth_root / "classes", test_fraction=0.25)
    train, test = open_dataset(spec, "train", seed=3), open_dataset(spec, "test", seed=3)
    assert train.classes == test.classes == ["bottle", "carpet", "grid", "screw", "tile", "wood"]
    assert len(train) == 6 * 15 and len(test) == 6 * 5
    train_paths = {train[i].path for i in range(len(train))}
    test_paths = [test[i].path for i in range(len(test))]
    assert train_paths.isdisjoint(test_paths)
    assert test_paths == [open_dataset(spec, "test", seed=3)[i].path for i in range(len(test))]
    assert test_paths != [open_dataset(spec, "test", seed=4)[i].path for i in range(len(test))]
    assert sorted(test.labels()) == sorted([label for label in range(6) for _ in range(5)])


def test_train_and_test_folders_are_used_as_given_with_train_class_indices(tmp_path: Path) -> None:
    _write(tmp_path / "train" / "a", 3)
    _write(tmp_path / "train" / "b", 2)
    _write(tmp_path / "test" / "b", 4)
    train, test = open_dataset(_spec(tmp_path), "train"), open_dataset(_spec(tmp_path), "test")
    assert train.classes == test.classes == ["a", "b"]
    assert train.labels() == [0, 0, 0, 1, 1]
    assert test.labels() == [1, 1, 1, 1]


def test_test_class_unknown_to_train_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "train" / "a", 2)
    _write(tmp_path / "test" / "z", 2)
    with pytest.raises(DataError, match=r"\['z'\].*accepted: \['a'\]"):
        open_dataset(_spec(tmp_path), "test")


def test_empty_class_folder_error_names_the_folder(synth_root: Path, tmp_path: Path) -> None:
    shutil.copytree(synth_root / "classes" / "wood", tmp_path / "wood")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=rf"{tmp_path / 'empty'}.*no images"):
        open_dataset(_spec(tmp_path), "train")


def test_missing_root_error_names_the_root_and_the_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere.*does not exist.*<root>/<class>"):
        open_dataset(_spec(tmp_path / "nowhere"), "train")


def test_zero_test_fraction_without_test_folder_gives_a_clear_error(tmp_path: Path) -> None:
    _write(tmp_path / "a", 3)
    with pytest.raises(DataError, match="test_fraction"):
        open_dataset(_spec(tmp_path, test_fraction=0.0), "test")
