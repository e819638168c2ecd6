"""Class selection (classes / exclude_classes) on pretraining sets; the per-class counts results record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from ab_core.checkpoints import META_FILE
from ab_core.data.classes import class_counts, filter_classes
from ab_core.data.loader import open_dataset
from ab_core.data.torchvision_sets import ArrayDataset
from ab_core.errors import DataError
from ab_core.runner import run
from ab_core.specs import DataSpec, parse_spec


def _folder(root: Path, **extra: object) -> DataSpec:
    return DataSpec(dataset="image_folder", root=str(root), resize=16, crop=16, cache="none", **extra)


def test_classes_keeps_those_named_in_their_order_relabelled(synth_root: Path) -> None:
    spec = _folder(synth_root / "classes", classes=["wood", "grid"], test_fraction=0.0)
    train = open_dataset(spec, "train")
    assert train.classes == ["wood", "grid"] and class_counts(train) == {"wood": 20, "grid": 20}
    assert all(("/wood/" in train[i].path) == (train[i].label == 0) for i in range(len(train)))


def test_an_excluded_class_folder_is_not_even_read(synth_root: Path, tmp_path: Path, write) -> None:
    for name in ("a", "b"):
        for i in range(3):
            write.image(tmp_path / name / f"{i}.png")
    (tmp_path / "empty").mkdir()  # empty: an error unless it is excluded
    with pytest.raises(DataError, match="empty.*holds no images"):
        open_dataset(_folder(tmp_path), "train")
    train = open_dataset(_folder(tmp_path, exclude_classes=["empty"], test_fraction=0.0), "train")
    assert class_counts(train) == {"a": 3, "b": 3}


def test_an_unknown_class_is_named_with_those_found(synth_root: Path) -> None:
    with pytest.raises(DataError, match=r"no classes 'gear'.*found: bottle, carpet"):
        open_dataset(_folder(synth_root / "classes", exclude_classes=["gear"]), "train")


def test_classes_and_exclude_classes_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="classes or exclude_classes"):
        DataSpec(dataset="image_folder", root="/x", classes=["a"], exclude_classes=["b"])


def test_array_datasets_select_classes_too() -> None:
    arrays = np.zeros((6, 8, 8, 3), np.uint8)
    base = ArrayDataset("cifar10", arrays, [0, 1, 2, 0, 1, 2], ["cat", "dog", "ship"], 8, 8)
    spec = DataSpec(dataset="cifar10", root="/x", resize=8, crop=8, exclude_classes=["dog"])
    kept = filter_classes(base, spec, "cifar10")
    assert kept.classes == ["cat", "ship"] and kept.labels() == [0, 1, 0, 1]
    assert kept[1].path == "cifar10:2" and kept.fingerprint() != base.fingerprint()


def test_a_pretraining_records_its_images_per_class(synth_root: Path, tmp_path: Path) -> None:
    spec = parse_spec({
        "kind": "pretrain", "method": {"method": "supervised"}, "seed": 0,
        "data": {"dataset": "image_folder", "root": str(synth_root / "classes"), "resize": 16, "crop": 16,
                 "batch_size": 8, "classes": ["tile", "screw"], "test_fraction": 0.25},
        "schedule": {"steps": 1},
    })
    result = run(spec, tmp_path, device="cpu")
    assert result["class_counts"] == {"tile": 15, "screw": 15}
    meta = json.loads((Path(result["checkpoint"]) / META_FILE).read_text())
    assert meta["class_counts"] == {"tile": 15, "screw": 15}
