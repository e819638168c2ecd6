"""Reading image and mask files into uint8 tensors with the project's one geometry (resize, centre crop)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ab_core.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def _open(path: Path) -> Image.Image:
    """The decoded image, or a DataError naming the file (missing, truncated, not an image)."""
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(
            f"cannot read image file {str(path)!r} ({error}); expected a readable "
            f"{'/'.join(ext[1:] for ext in IMAGE_EXTENSIONS)} image"
        ) from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode as 8-bit RGB; 16-bit and float images are scaled, not clipped, into 0-255."""
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES:
        # 16-bit grey: 65535 -> 255 ("I" holds 16-bit PNG/TIFF data in older Pillow; clipped to that range)
        values = np.asarray(image, dtype=np.float64)
        grey = np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode == "F":
        # float grey: [0, 1] when it fits there, else taken as 0-255
        values = np.asarray(image, dtype=np.float64)
        scale = 255.0 if values.size and np.nanmax(values) <= 1.0 else 1.0
        grey = np.clip(np.rint(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return image.convert("RGB")  # L, LA, P, PA, RGBA (alpha dropped), CMYK, YCbCr, 1


def load_rgb(path: Path) -> Image.Image:
    """The file as an 8-bit RGB PIL image, whatever its mode; DataError naming the file if unreadable."""
    return to_rgb(_open(Path(path)))


def _resized_size(width: int, height: int, resize: int) -> tuple[int, int]:
    """(width, height) with the shorter side = resize, aspect kept (torchvision's Resize(int) rule)."""
    if width <= height:
        return resize, int(resize * height / width)
    return int(resize * width / height), resize


def _centre_crop_box(width: int, height: int, crop: int) -> tuple[int, int, int, int]:
    left = int(round((width - crop) / 2.0))
    top = int(round((height - crop) / 2.0))
    return left, top, left + crop, top + crop


def fit(
    image: Image.Image, resize: int, crop: int, resample: Image.Resampling = Image.Resampling.BILINEAR
) -> Image.Image:
    """Resize the shorter side to `resize`, then centre-crop a `crop` x `crop` square."""
    if crop > resize:
        raise DataError(f"crop {crop} must be <= resize {resize}")
    size = _resized_size(image.width, image.height, resize)
    if size != image.size:
        image = image.resize(size, resample)
    box = _centre_crop_box(image.width, image.height, crop)
    if box != (0, 0, image.width, image.height):
        image = image.crop(box)
    return image


def rgb_to_tensor(image: Image.Image) -> Tensor:
    """(3, H, W) uint8 from an RGB PIL image."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous()


Box = tuple[int, int, int, int]  # (left, top, right, bottom) in pixels, PIL's crop box


def _stamp(path: Path) -> tuple[Path, int, int]:
    stat = Path(path).stat()
    return Path(path), stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=8)  # the tiles of one wide image are read one after another: decode it once
def _whole_rgb(stamp: tuple[Path, int, int]) -> Image.Image:
    return load_rgb(stamp[0])


def _mask_grey(path: Path) -> Image.Image:
    image = _open(Path(path))
    if image.mode not in ("L", "1", "P"):
        image = to_rgb(image)
    return image.convert("L")


@lru_cache(maxsize=8)
def _whole_mask(stamp: tuple[Path, int, int]) -> Image.Image:
    return _mask_grey(stamp[0])


def decode(path: Path, resize: int, crop: int, box: Box | None = None) -> Tensor:
    """(3, crop, crop) uint8: the image (or its `box`, a tile) resized (shorter side = resize, bilinear) and
    centre-cropped."""
    image = load_rgb(path) if box is None else _whole_rgb(_stamp(path)).crop(box)
    return rgb_to_tensor(fit(image, resize, crop))


def load_mask(path: Path, resize: int, crop: int, box: Box | None = None) -> Tensor:
    """(1, crop, crop) uint8 0/1: the mask (or its `box`) with decode's geometry (nearest); any non-zero
    pixel is defect, so 0/1 and 0/255 masks read the same."""
    grey = _mask_grey(path) if box is None else _whole_mask(_stamp(path)).crop(box)
    grey = fit(grey, resize, crop, resample=Image.Resampling.NEAREST)
    return torch.from_numpy((np.asarray(grey) > 0).astype(np.uint8))[None]  # (1, crop, crop)
