"""The folder kind, anomalib's custom-data convention: normal_dir, abnormal_dir, mask_dir, normal_test_dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ab_core.data.loader import categories, open_dataset
from ab_core.errors import DataError
from ab_core.specs import DataSpec


def _spec(root: Path, **extra: object) -> DataSpec:
    fields = {"normal_dir": "good", "abnormal_dir": "defect", "mask_dir": "masks"} | extra
    return DataSpec(dataset="folder", root=str(root), resize=16, crop=16, cache="none", **fields)


def test_normal_test_dir_and_masks_by_file_name(folder_root: Path) -> None:
    spec = _spec(folder_root, normal_test_dir="good_test")
    assert categories(spec) == ["my_parts"]
    assert len(open_dataset(spec, "train", "my_parts")) == 5
    test = open_dataset(spec, "test", "my_parts")
    assert [Path(test[i].path).name for i in range(4)] == ["part_t0.png", "part_t1.png", "scratch_0.png",
                                                           "scratch_1.png"]
    assert test.labels() == [0, 0, 1, 1] and [int(test[i].mask.sum()) for i in range(4)] == [0, 0, 16, 16]


def test_without_normal_test_dir_normals_are_held_out(folder_root: Path) -> None:
    spec = _spec(folder_root, test_fraction=0.4)
    train = open_dataset(spec, "train", "my_parts", seed=2)
    test = open_dataset(spec, "test", "my_parts", seed=2)
    assert len(train) == 3 and test.labels() == [0, 0, 1, 1]


def test_without_mask_dir_the_test_set_has_no_masks(folder_root: Path) -> None:
    test = open_dataset(_spec(folder_root, mask_dir=None), "test", "my_parts")
    assert test.labels()[-2:] == [1, 1] and test[len(test) - 1].mask is None
    assert test.__getitems__(list(range(len(test)))).masks is None  # pixel metrics are not computed


def test_extensions_limit_the_files_read(folder_root: Path, write) -> None:
    write.image(folder_root / "good" / "part_9.jpg")
    assert len(open_dataset(_spec(folder_root, test_fraction=0.0), "train", "my_parts")) == 6
    only_png = _spec(folder_root, test_fraction=0.0, extensions=["png"])
    assert len(open_dataset(only_png, "train", "my_parts")) == 5


def test_an_empty_abnormal_dir_is_named(folder_root: Path) -> None:
    (folder_root / "empty").mkdir()
    with pytest.raises(DataError, match=rf"abnormal_dir folder '{folder_root / 'empty'}' holds no images"):
        open_dataset(_spec(folder_root, abnormal_dir="empty"), "test", "my_parts")


def test_folder_fields_belong_to_the_folder_kind_only(folder_root: Path) -> None:
    with pytest.raises(ValidationError, match="normal_dir apply to dataset 'folder' only"):
        DataSpec(dataset="mvtec", root=str(folder_root), normal_dir="good")
    with pytest.raises(ValidationError, match="needs normal_dir"):
        DataSpec(dataset="folder", root=str(folder_root))
