"""The `image_folder` layout: root/<class>/*, or root/train/<class> + root/test/<class>."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

from ab_core.data.classes import select_names
from ab_core.data.dataset import FileDataset, FileItem
from ab_core.data.images import IMAGE_EXTENSIONS, is_image_file
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec

LAYOUT = (
    "expected <root>/<class>/<images>, or <root>/train/<class>/<images> and <root>/test/<class>/<images> "
    f"(images: {' '.join(IMAGE_EXTENSIONS)})"
)


def image_files(folder: Path) -> list[Path]:
    """The image files directly in `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def _class_folders(base: Path, data: DataSpec) -> dict[str, list[Path]]:
    """Selected class name -> its sorted image files; DataError naming an empty class folder."""
    folders = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"image_folder {str(base)!r} has no class folders; {LAYOUT}")
    keep = select_names([p.name for p in folders], data, f"image_folder {str(base)!r}")
    classes = {}
    for folder in sorted((p for p in folders if p.name in keep), key=lambda p: keep.index(p.name)):
        files = image_files(folder)
        if not files:
            raise DataError(f"class folder {str(folder)!r} holds no images; {LAYOUT}")
        classes[folder.name] = files
    return classes


def held_out(files: list[Path], fraction: float, seed: int, name: str) -> set[Path]:
    """A seeded hold-out of round(fraction * n) files of one class (at least one image stays in train)."""
    count = min(round(len(files) * fraction), len(files) - 1)
    rng = random.Random(f"{seed}:{name}")  # str seeds hash with sha512: stable across runs and versions
    return set(rng.sample(files, max(count, 0)))


def open_image_folder(data: DataSpec, split: Literal["train", "test"], seed: int) -> FileDataset:
    root = Path(data.root)
    if not root.is_dir():
        raise DataError(f"image_folder root {str(root)!r} does not exist; {LAYOUT}")
    if (root / "train").is_dir() and (root / "test").is_dir():
        return _split_folders(root, split, data)
    base = root / "train" if (root / "train").is_dir() else root
    per_class = _class_folders(base, data)
    classes = list(per_class)
    items = []
    for label, name in enumerate(classes):
        test_files = held_out(per_class[name], data.test_fraction, seed, name)
        items += [FileItem(p, label) for p in per_class[name] if (p in test_files) == (split == "test")]
    if not items:
        raise DataError(
            f"image_folder {str(base)!r} gives no {split} images with test_fraction {data.test_fraction}; "
            f"raise data.test_fraction or add {str(root / 'test')!r}"
        )
    return FileDataset(root, items, classes, data.resize, data.crop)


def _split_folders(root: Path, split: str, data: DataSpec) -> FileDataset:
    classes = list(_class_folders(root / "train", data))
    everything = data.model_copy(update={"classes": None, "exclude_classes": None, "categories": None})
    known = [p.name for p in (root / "train").iterdir() if p.is_dir() and not p.name.startswith(".")]
    per_class = _class_folders(root / split, everything)
    unknown = sorted(set(per_class) - set(known))
    if unknown:
        raise DataError(
            f"{str(root / split)!r} has classes {unknown} that {str(root / 'train')!r} lacks; "
            f"accepted: {classes}"
        )
    items = [FileItem(p, classes.index(name)) for name, files in per_class.items() if name in classes
             for p in files]
    return FileDataset(root, items, classes, data.resize, data.crop)
