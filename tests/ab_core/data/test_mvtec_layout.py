"""The MVTec-AD layout: labels, masks (zeros for good, recorded when missing) and layout errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ab_core.data.loader import categories, open_dataset
from ab_core.errors import DataError
from ab_core.specs import DataSpec


def _spec(root: Path, **extra: object) -> DataSpec:
    return DataSpec(dataset="mvtec", root=str(root), resize=32, crop=32, cache="none", **extra)


def test_train_split_is_good_images_without_masks(synth_root: Path) -> None:
    dataset = open_dataset(_spec(synth_root / "mvtec"), "train", category="wood")
    assert len(dataset) == 8
    assert dataset.labels() == [0] * 8
    sample = dataset[0]
    assert sample.mask is None and sample.image.shape == (3, 32, 32)
    assert "wood/train/good" in sample.path


def test_test_split_labels_defects_one_and_gives_zero_masks_to_good(synth_root: Path) -> None:
    dataset = open_dataset(_spec(synth_root / "mvtec"), "test", category="wood")
    assert dataset.classes == ["good", "defective"]
    batch = dataset.__getitems__(list(range(len(dataset))))
    assert batch.masks is not None and batch.masks.shape == (len(dataset), 1, 32, 32)
    good = torch.tensor(["/test/good/" in p for p in batch.paths])
    assert good.sum() == 2 and (~good).sum() == 4  # 2 good, 2 defect types x 2
    assert (batch.labels == (~good).long()).all()
    assert batch.masks[good].sum() == 0
    assert (batch.masks[~good].flatten(1).sum(1) > 0).all()
    assert dataset.missing_masks == []


def test_defect_image_without_mask_file_gets_zero_mask_and_is_recorded(mvtec_copy: Path) -> None:
    (mvtec_copy / "screw" / "ground_truth" / "crack" / "001_mask.png").unlink()
    dataset = open_dataset(_spec(mvtec_copy), "test", category="screw")
    missing = str(mvtec_copy / "screw" / "test" / "crack" / "001.png")
    assert dataset.missing_masks == [missing]
    index = [dataset[i].path for i in range(len(dataset))].index(missing)
    assert dataset[index].label == 1 and dataset[index].mask is not None and dataset[index].mask.sum() == 0


def test_missing_category_error_names_the_path_the_layout_and_what_was_found(mvtec_copy: Path) -> None:
    with pytest.raises(DataError) as error:
        open_dataset(_spec(mvtec_copy), "train", category="bottle")
    message = str(error.value)
    assert str(mvtec_copy) in message and "'bottle'" in message
    assert "<category>/train/good" in message and "ground_truth/<defect>/*_mask.png" in message
    assert "found: grid, screw" in message


def test_missing_root_error_names_the_root_and_the_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist.*<category>/train/good"):
        open_dataset(_spec(tmp_path / "nowhere"), "train", category="screw")


def test_empty_train_folder_error_names_the_folder(mvtec_copy: Path) -> None:
    for path in (mvtec_copy / "grid" / "train" / "good").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"grid/train/good.*no images"):
        open_dataset(_spec(mvtec_copy), "train", category="grid")


def test_categories_lists_those_found_unless_the_spec_names_them(mvtec_copy: Path) -> None:
    assert categories(_spec(mvtec_copy)) == ["grid", "screw"]
    assert categories(_spec(mvtec_copy, categories=["screw"])) == ["screw"]


def test_no_category_joins_every_category(mvtec_copy: Path) -> None:
    joined = open_dataset(_spec(mvtec_copy), "train")
    assert len(joined) == 16
    assert {Path(joined[i].path).parts[-4] for i in range(len(joined))} == {"grid", "screw"}
