"""A deterministic synthetic manufacturing data set (MVTec-AD layout + class folders) for tests and demos.

`generate(out)` writes out/mvtec/<category>/{train/good, test/good, test/<defect>, ground_truth/<defect>}
and out/classes/<category>/ (normal images, one class per category, for supervised pretraining).
The same seed gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ab_core.data.synth_draw import CATEGORIES

_TRAIN, _TEST_GOOD, _TEST_DEFECT, _CLASSES = 0, 1, 2, 3  # independent random streams per use


def _save_rgb(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8), "RGB").save(path)


def _save_mask(mask: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255, "L").save(path)


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def generate(out: Path, *, seed: int = 0, size: int = 64, per_category: int = 12) -> dict:
    """Write the dataset under `out` and return where it is and how many images of each kind it holds.

    Per category: `per_category` train/good images, max(2, per_category // 3) test/good images and as
    many per defect type (two types), each with a 0/255 mask; max(20, per_category) images per class.
    """
    if size < 16:
        raise ValueError(f"size {size} is too small to draw defects; accepted: >= 16")
    if per_category < 1:
        raise ValueError(f"per_category {per_category} must be >= 1")
    out = Path(out)
    mvtec, classes = out / "mvtec", out / "classes"
    test_count, class_count = max(2, per_category // 3), max(20, per_category)
    defects: dict[str, list[str]] = {}
    for index, (category, (draw, defect_kinds)) in enumerate(CATEGORIES.items()):
        folder = mvtec / category
        for i in range(per_category):
            _save_rgb(draw(_rng(seed, index, _TRAIN, i), size)[0], folder / "train" / "good" / f"{i:03d}.png")
        for i in range(test_count):
            _save_rgb(
                draw(_rng(seed, index, _TEST_GOOD, i), size)[0], folder / "test" / "good" / f"{i:03d}.png"
            )
        for kind_index, (kind, add_defect) in enumerate(defect_kinds.items()):
            for i in range(test_count):
                rng = _rng(seed, index, _TEST_DEFECT, kind_index, i)
                image, mask = add_defect(rng, *draw(rng, size))
                _save_rgb(image, folder / "test" / kind / f"{i:03d}.png")
                _save_mask(mask, folder / "ground_truth" / kind / f"{i:03d}_mask.png")
        for i in range(class_count):
            _save_rgb(draw(_rng(seed, index, _CLASSES, i), size)[0], classes / category / f"{i:03d}.png")
        defects[category] = list(defect_kinds)
    return {
        "root": str(out),
        "mvtec_root": str(mvtec),
        "classes_root": str(classes),
        "categories": list(CATEGORIES),
        "defects": defects,
        "size": size,
        "seed": seed,
        "counts": {
            "train_good": per_category,
            "test_good": test_count,
            "test_per_defect": test_count,
            "per_class": class_count,
        },
    }
