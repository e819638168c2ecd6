"""The synthetic data set: MVTec layout, a multi-class folder, byte-identical for one seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ab_core.data.loader import open_dataset
from ab_core.data.synth import generate
from ab_core.specs import DataSpec


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=1, size=16, per_category=2)
    generate(tmp_path / "b", seed=1, size=16, per_category=2)
    generate(tmp_path / "c", seed=2, size=16, per_category=2)
    first = _tree(tmp_path / "a")
    assert first == _tree(tmp_path / "b")
    assert first.keys() == _tree(tmp_path / "c").keys() and first != _tree(tmp_path / "c")


def test_layout_counts_and_summary(tmp_path: Path) -> None:
    summary = generate(tmp_path, seed=0, size=24, per_category=6)
    assert summary["mvtec_root"] == str(tmp_path / "mvtec")
    assert len(summary["categories"]) >= 5
    for category in summary["categories"]:
        folder = tmp_path / "mvtec" / category
        assert len(list((folder / "train" / "good").glob("*.png"))) == 6
        assert len(list((folder / "test" / "good").glob("*.png"))) == summary["counts"]["test_good"] == 2
        assert len(summary["defects"][category]) == 2
        for defect in summary["defects"][category]:
            images = sorted((folder / "test" / defect).glob("*.png"))
            assert len(images) == 2
            for image in images:
                mask = np.asarray(Image.open(folder / "ground_truth" / defect / f"{image.stem}_mask.png"))
                assert mask.shape == (24, 24) and set(np.unique(mask)) == {0, 255}
        class_images = list((tmp_path / "classes" / category).glob("*.png"))
        assert len(class_images) == summary["counts"]["per_class"] == 20
    assert Image.open(next((tmp_path / "classes").rglob("*.png"))).size == (24, 24)


def test_defects_are_strong_and_local(synth_root: Path) -> None:
    spec = DataSpec(dataset="mvtec", root=str(synth_root / "mvtec"), resize=32, crop=32, cache="none")
    for category in ("carpet", "screw"):
        test = open_dataset(spec, "test", category=category)
        batch = test.__getitems__(list(range(len(test))))
        good = batch.images[batch.labels == 0].float().mean(0)  # (3, H, W) typical normal image
        for image, mask, label in zip(batch.images, batch.masks, batch.labels, strict=True):
            if label == 1:
                inside = mask[0].bool()
                assert 0 < inside.float().mean() < 0.3
                difference = (image.float() - good).abs().mean(0)  # (H, W)
                assert difference[inside].mean() > 2 * difference[~inside].mean()
