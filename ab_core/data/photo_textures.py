"""An MVTec-layout set cut from real texture photographs (scikit-image's bundled brick, grass, gravel).

`build(out)` writes out/<photo>/{train/good, test/good, test/<defect>, ground_truth/<defect>/*_mask.png}:
train crops come from the top of each photo, test crops from the rest (the two never overlap), and the
defects are planted in test crops: a bright scratch, a dark crack, a foreign-colour spot (the synthetic
set's drawings) and a blended patch of another photo (`defects.blended_patch`). A crop is `CROP` photo
pixels square, resized to `size`. The same seed gives byte-identical files; each photo draws from its own
seeded streams, so choosing fewer photos leaves the others' files unchanged.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ab_core.data.defects import blended_patch
from ab_core.data.synth import _save_mask, _save_rgb
from ab_core.data.synth_draw import contamination, crack, scratch
from ab_core.errors import DataError

PHOTOS = ("brick", "grass", "gravel")  # skimage.data's texture photos, 512 x 512 grey, inside its wheel
CROP = 128  # photo pixels per crop side, before the resize to `size`
TRAIN_FRACTION = 0.6  # rows [0, 0.6 H) give train crops, rows [0.6 H, H) test crops
_TRAIN, _TEST_GOOD, _TEST_DEFECT = 0, 1, 2  # independent random streams per use

Planted = Callable[[np.random.Generator, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def photo(name: str) -> np.ndarray:
    """The bundled photo `name` as uint8 (H, W, 3) (grey photos repeated over the channels)."""
    if name not in PHOTOS:
        raise DataError(f"unknown photo {name!r}; accepted: {', '.join(PHOTOS)}")
    try:
        import skimage.data
    except ImportError as error:
        raise DataError("the photo set needs scikit-image (pip install scikit-image)") from error
    image = np.asarray(getattr(skimage.data, name)())
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def _rng(seed: int, name: str, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode()), *stream])


def _crop(rng: np.random.Generator, image: np.ndarray, rows: tuple[int, int], size: int) -> np.ndarray:
    """A random CROP-square crop whose rows lie in [rows[0], rows[1]), resized: float (size, size, 3)."""
    top = int(rng.integers(rows[0], rows[1] - CROP + 1))
    left = int(rng.integers(0, image.shape[1] - CROP + 1))
    patch = Image.fromarray(image[top : top + CROP, left : left + CROP])
    return np.asarray(patch.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float64) / 255


def _split(image: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """The train and test row bands of a photo."""
    cut = int(image.shape[0] * TRAIN_FRACTION)
    return (0, cut), (cut, image.shape[0])


def _patch_from(donor: np.ndarray) -> Planted:
    """A blended patch of `donor` (float (H, W, 3)), NSA-like, at a seeded place."""

    def plant(rng: np.random.Generator, image: np.ndarray, _: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pair = np.rint(np.stack([image, donor]) * 255).astype(np.uint8)  # (2, H, W, 3)
        batch = torch.from_numpy(pair).permute(0, 3, 1, 2).contiguous()  # (2, 3, H, W)
        with torch.random.fork_rng(devices=[]):  # leave the caller's torch RNG as it was
            torch.manual_seed(int(rng.integers(2**31)))
            out, mask = blended_patch(batch)  # image 0 gets a patch of image 1
        return out[0].permute(1, 2, 0).numpy() / 255, mask[0, 0].numpy().astype(bool)

    return plant


def _defects(donor: np.ndarray) -> dict[str, Planted]:
    """The defect kinds, each planted on a float (H, W, 3) crop; `patch` takes its patch from `donor`."""
    return {"scratch": scratch, "crack": crack, "spot": contamination, "patch": _patch_from(donor)}


DEFECTS = ("scratch", "crack", "spot", "patch")


def build(
    out: Path,
    *,
    seed: int = 0,
    size: int = 128,
    photos: Sequence[str] = PHOTOS,
    train: int = 50,
    test_good: int = 15,
    test_per_defect: int = 8,
    contrast: float = 1.0,
) -> dict:
    """Write the set under `out` (an MVTec root: one category per photo) and return what it holds.
    `contrast` in (0, 1] weakens every planted defect: the defective crop is crop + contrast * (drawn - crop),
    its mask unchanged (1: as drawn)."""
    if size < 32:
        raise DataError(f"size {size} is too small to plant defects in; accepted: >= 32")
    if min(train, test_good, test_per_defect) < 1:
        raise DataError(f"train {train}, test_good {test_good}, test_per_defect {test_per_defect}: each >= 1")
    if not 0 < contrast <= 1:
        raise DataError(f"contrast {contrast}: accepted a number in (0, 1] (1: defects as drawn)")
    unknown = [name for name in photos if name not in PHOTOS]
    if unknown or not photos:
        raise DataError(f"photos {list(photos)}: accepted a non-empty choice of {', '.join(PHOTOS)}")
    out = Path(out)
    for name in photos:
        image, folder = photo(name), out / name
        train_rows, test_rows = _split(image)
        for i in range(train):
            crop = _crop(_rng(seed, name, _TRAIN, i), image, train_rows, size)
            _save_rgb(crop, folder / "train/good" / f"{i:03d}.png")
        for i in range(test_good):
            crop = _crop(_rng(seed, name, _TEST_GOOD, i), image, test_rows, size)
            _save_rgb(crop, folder / "test/good" / f"{i:03d}.png")
        donor_name = PHOTOS[(PHOTOS.index(name) + 1) % len(PHOTOS)]  # the next photo, chosen or not
        donor_image = photo(donor_name)
        for kind_index, kind in enumerate(DEFECTS):
            for i in range(test_per_defect):
                rng = _rng(seed, name, _TEST_DEFECT, kind_index, i)
                crop = _crop(rng, image, test_rows, size)
                donor = _crop(rng, donor_image, _split(donor_image)[1], size)
                planted, mask = _defects(donor)[kind](rng, crop, np.ones(crop.shape[:2], bool))
                if contrast != 1:  # 1 keeps the drawn pixels bit for bit
                    planted = crop + contrast * (planted - crop)
                _save_rgb(planted, folder / "test" / kind / f"{i:03d}.png")
                _save_mask(mask, folder / "ground_truth" / kind / f"{i:03d}_mask.png")
    return {
        "root": str(out),
        "categories": list(photos),
        "defects": list(DEFECTS),
        "size": size,
        "seed": seed,
        "contrast": contrast,
        "counts": {"train_good": train, "test_good": test_good, "test_per_defect": test_per_defect},
        "source": "scikit-image bundled photos; train rows [0, 60%), test rows [60%, 100%) of each",
    }
