"""The AITEX fabric layout, cut into square tiles: Defect_images, Mask_images, NODefect_images/<fabric>.

Files are named nnnn_ddd_ff.png (image, defect code, fabric code; ddd = 000 for defect-free images), masks
nnnn_ddd_ff_mask.png. Each fabric `ff` is a category "fabricff". The wide 4096x256 images are cut into
`tile` x `tile` squares every `tile_stride` pixels, and each tile's mask is the same box of the mask, so
image and mask stay aligned; a tile of a defective image is defective when its box holds a defect pixel.
A seeded `test_fraction` of each fabric's defect-free images is held out for the test split; a defective
image without a mask is reported and left out (its tiles cannot be labelled).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from ab_core.data.anomaly_layout import AnomalyLayout, CategoryItems, first_file, list_files, unused
from ab_core.data.dataset import FileItem, item_name
from ab_core.data.image_folder import held_out
from ab_core.data.images import Box
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec

NAME = re.compile(r"^(\d+)_(\d+)_(\d+)$")  # nnnn_ddd_ff


def tile_boxes(width: int, height: int, tile: int, stride: int) -> list[Box]:
    """The (left, top, right, bottom) boxes of the tiles, left to right then top to bottom."""
    return [
        (left, top, left + tile, top + tile)
        for top in range(0, height - tile + 1, stride)
        for left in range(0, width - tile + 1, stride)
    ]


class AitexLayout(AnomalyLayout):
    kind = "aitex"

    def expected(self, root: Path) -> str:
        return (
            f"expected {root}/Defect_images/nnnn_ddd_ff.png, {root}/Mask_images/nnnn_ddd_ff_mask.png and "
            f"{root}/NODefect_images/<fabric>/nnnn_000_ff.png"
        )

    def _by_fabric(self, data: DataSpec, ignored: list[str]) -> tuple[dict[str, list[Path]], list[Path]]:
        """fabric category -> defect-free images, and every defective image."""
        root = self.require_root(data)
        if not (root / "NODefect_images").is_dir():
            raise DataError(f"aitex root {str(root)!r} has no NODefect_images folder; {self.expected(root)}")
        normals: dict[str, list[Path]] = {}
        folders = sorted(p for p in (root / "NODefect_images").iterdir() if p.is_dir())
        for path in [p for folder in folders for p in list_files(folder, ignored)] + list_files(
            root / "NODefect_images", ignored
        ):
            normals.setdefault(_fabric(path), []).append(path)
        return normals, list_files(root / "Defect_images", ignored)

    def found_categories(self, data: DataSpec) -> list[str]:
        return sorted(self._by_fabric(data, [])[0])

    def category(self, data: DataSpec, name: str, seed: int) -> CategoryItems:
        root = Path(data.root)
        result = CategoryItems(name, [], [])
        normals, defects = self._by_fabric(data, result.ignored)
        if name not in normals:
            raise self.unknown_category(data, name)
        stride = data.tile_stride or data.tile
        test_normals = held_out(normals[name], data.test_fraction, seed, name)
        for path in normals[name]:
            boxes = _boxes(path, data.tile, stride)
            if path in test_normals:
                result.test += [FileItem(path, 0, zero_mask=True, box=box) for box in boxes]
            else:
                result.train += [FileItem(path, 0, box=box) for box in boxes]
        masks = [m for m in list_files(root / "Mask_images", result.ignored) if _mask_fabric(m) == name]
        for path in (p for p in defects if _fabric(p) == name):
            mask = first_file(root / "Mask_images", [f"{path.stem}_mask.png", f"{path.stem}_mask1.png"])
            if mask is None:
                result.missing_masks.append(item_name(FileItem(path, 1)))
                continue
            result.test += _defect_tiles(path, mask, data.tile, stride)
        result.orphan_masks = unused(masks, result.test)
        return result


def _fabric(path: Path) -> str:
    match = NAME.match(path.stem)
    if match is None:
        raise DataError(f"aitex file {str(path)!r} is not named nnnn_ddd_ff.png (image, defect, fabric)")
    return f"fabric{match.group(3)}"


def _mask_fabric(mask: Path) -> str | None:
    match = NAME.match(mask.stem.split("_mask")[0])
    return None if match is None else f"fabric{match.group(3)}"


def _boxes(path: Path, tile: int, stride: int) -> list[Box]:
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(f"cannot read image file {str(path)!r} ({error})") from None
    boxes = tile_boxes(width, height, tile, stride)
    if not boxes:
        raise DataError(f"aitex image {str(path)!r} is {width}x{height}, smaller than data.tile {tile}")
    return boxes


def _defect_tiles(path: Path, mask: Path, tile: int, stride: int) -> list[FileItem]:
    """The tiles of a defective image, each labelled by whether its box of the mask holds a defect."""
    try:
        with Image.open(mask) as image:
            pixels = np.asarray(image.convert("L")) > 0  # (H, W)
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(f"cannot read mask file {str(mask)!r} ({error})") from None
    items = []
    for box in _boxes(path, tile, stride):
        left, top, right, bottom = box
        label = int(pixels[top:bottom, left:right].any())
        items.append(FileItem(path, label, mask_path=mask, box=box))
    return items


LAYOUT = AitexLayout()
