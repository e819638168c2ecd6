"""The photo-texture set: byte-identical for a seed, seeded per photo, MVTec layout with aligned masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ab_core.data import photo_textures
from ab_core.data.loader import open_dataset
from ab_core.errors import DataError
from ab_core.specs import DataSpec

SMALL = {"size": 32, "train": 2, "test_good": 2, "test_per_defect": 1}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_the_same_bytes_another_seed_does_not_and_photos_are_seeded_apart(
    tmp_path: Path,
) -> None:
    photo_textures.build(tmp_path / "a", seed=3, photos=("brick", "grass"), **SMALL)
    photo_textures.build(tmp_path / "b", seed=3, photos=("brick", "grass"), **SMALL)
    photo_textures.build(tmp_path / "c", seed=4, photos=("brick", "grass"), **SMALL)
    photo_textures.build(tmp_path / "d", seed=3, photos=("grass",), **SMALL)
    first = _tree(tmp_path / "a")
    assert first == _tree(tmp_path / "b")
    assert first.keys() == _tree(tmp_path / "c").keys() and first != _tree(tmp_path / "c")
    assert _tree(tmp_path / "d") == {k: v for k, v in first.items() if k.startswith("grass/")}


def test_the_mvtec_loader_reads_labels_and_masks_that_cover_the_planted_defects(tmp_path: Path) -> None:
    summary = photo_textures.build(tmp_path, seed=0, photos=("gravel",), **SMALL)
    assert summary["categories"] == ["gravel"] and summary["defects"] == list(photo_textures.DEFECTS)
    data = DataSpec(dataset="mvtec", root=str(tmp_path), resize=32, crop=32, cache="none")
    assert len(open_dataset(data, "train", category="gravel")) == 2
    test = open_dataset(data, "test", category="gravel")
    batch = test.__getitems__(list(range(len(test))))
    good = torch.tensor(["/test/good/" in path for path in batch.paths])
    assert good.sum() == 2 and (~good).sum() == len(photo_textures.DEFECTS)
    assert (batch.labels == (~good).long()).all() and batch.masks[good].sum() == 0
    image = photo_textures.photo("gravel")
    donor = photo_textures.photo("brick")  # gravel's patches come from the next photo
    for kind_index, kind in enumerate(photo_textures.DEFECTS):
        planted = np.asarray(Image.open(tmp_path / "gravel" / "test" / kind / "000.png"), float) / 255
        mask = np.asarray(Image.open(tmp_path / "gravel" / "ground_truth" / kind / "000_mask.png")) > 0
        rng = photo_textures._rng(0, "gravel", photo_textures._TEST_DEFECT, kind_index, 0)
        clean = photo_textures._crop(rng, image, photo_textures._split(image)[1], 32)  # as build drew it
        photo_textures._crop(rng, donor, photo_textures._split(donor)[1], 32)
        change = np.abs(planted - clean).mean(axis=2)  # (H, W)
        assert 0 < mask.mean() < 0.4, kind
        assert change[mask].mean() > 5 * change[~mask].mean() + 0.01, kind  # the defect is where its mask is


def test_train_and_test_crops_come_from_disjoint_rows_of_the_photo() -> None:
    image = np.zeros((512, 512, 3), np.uint8)
    (_, train_high), test_rows = photo_textures._split(image)
    image[:train_high] = 255  # the train band white, the test band black
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert (photo_textures._crop(rng, image, (0, train_high), 64) == 1).all()
        assert (photo_textures._crop(rng, image, test_rows, 64) == 0).all()


def test_contrast_weakens_only_the_planted_defects_and_keeps_their_masks(tmp_path: Path) -> None:
    photo_textures.build(tmp_path / "full", photos=("brick",), **SMALL)
    photo_textures.build(tmp_path / "half", photos=("brick",), contrast=0.5, **SMALL)
    full, half = _tree(tmp_path / "full"), _tree(tmp_path / "half")
    defective = [k for k in full if "/test/" in k and "/test/good/" not in k]
    assert full.keys() == half.keys() and len(defective) == len(photo_textures.DEFECTS)
    assert {k: v for k, v in full.items() if k not in defective} == {
        k: v for k, v in half.items() if k not in defective
    }
    image = photo_textures.photo("brick")
    for kind_index, kind in enumerate(photo_textures.DEFECTS):
        rng = photo_textures._rng(0, "brick", photo_textures._TEST_DEFECT, kind_index, 0)
        clean = photo_textures._crop(rng, image, photo_textures._split(image)[1], 32) * 255
        drawn, weakened = (np.asarray(Image.open(tmp_path / copy / "brick/test" / kind / "000.png"), float)
                           for copy in ("full", "half"))  # fmt: skip
        expected = clean + 0.5 * (drawn - clean)  # within the uint8 rounding of the two files
        assert np.abs(weakened - expected).max() <= 1.0, kind
        assert np.abs(drawn - clean).max() > 40, kind  # the defect is there to weaken


def test_unknown_photos_and_tiny_sizes_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'moon'.*brick, grass, gravel"):
        photo_textures.build(tmp_path, photos=("moon",))
    with pytest.raises(DataError, match="size 16"):
        photo_textures.build(tmp_path, size=16)
    for contrast in (0, 1.5):
        with pytest.raises(DataError, match=r"contrast .*\(0, 1\]"):
            photo_textures.build(tmp_path, contrast=contrast)


def test_abs_data_photos_writes_every_photo_and_prints_the_summary(tmp_path: Path, capsys) -> None:
    from cli.main import main

    assert main(["data", "photos", str(tmp_path), "--size", "32", "--seed", "1", "--contrast", "0.5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["categories"] == list(photo_textures.PHOTOS) and summary["seed"] == 1
    assert summary["contrast"] == 0.5
    for name in photo_textures.PHOTOS:
        train = list((tmp_path / name / "train" / "good").glob("*.png"))
        assert len(train) == summary["counts"]["train_good"]
        assert Image.open(tmp_path / name / "test" / "patch" / "000.png").size == (32, 32)
