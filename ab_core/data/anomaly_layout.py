"""What every anomaly-layout kind gives per category: normal train items, labelled test items, and oddities.

Each kind (mvtec, visa, mvtec_ad2, btad, dagm, aitex, folder) is one small module with an `AnomalyLayout`
subclass; `anomaly_sets` turns its `CategoryItems` into datasets and `check` into a report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ab_core.data.classes import select_names
from ab_core.data.dataset import FileItem
from ab_core.data.image_folder import held_out
from ab_core.data.images import IMAGE_EXTENSIONS
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec

Split = Literal["train", "test"]


@dataclass
class CategoryItems:
    """One category's files: train holds normal images (label 0); test labels defects 1, with masks."""

    name: str
    train: list[FileItem]
    test: list[FileItem]
    missing_masks: list[str] = field(default_factory=list)  # defective images with no mask file
    orphan_masks: list[str] = field(default_factory=list)  # mask files no image refers to
    ignored: list[str] = field(default_factory=list)  # files in image folders that are not images
    unscored: dict[str, str] = field(default_factory=dict)  # split -> why it is not scored
    other_counts: dict[str, int] = field(default_factory=dict)  # listed splits that are not loaded

    def hold_out_normals(self, normals: list[Path], data: DataSpec, seed: int) -> None:
        """Train on the normal images, but a seeded data.test_fraction of them, tested as normal."""
        test_normals = held_out(normals, data.test_fraction, seed, self.name)
        self.train = [FileItem(p, 0) for p in normals if p not in test_normals]
        self.test += [normal(p) for p in normals if p in test_normals]

    def add_test(self, good: list[Path], bad: list[Path], mask_of: Callable[[Path], Path | None]) -> None:
        """Normal test images, then defective ones with `mask_of(image)` (None: recorded as missing)."""
        self.test += [normal(p) for p in good]
        self.test += [defective(p, mask_of(p), self.missing_masks) for p in bad]


class AnomalyLayout:
    """One dataset kind's layout on disk; subclasses read one category at a time."""

    kind: str = ""

    def expected(self, root: Path) -> str:
        """The layout in words, for error messages."""
        raise NotImplementedError

    def found_categories(self, data: DataSpec) -> list[str]:
        """Every category under data.root, sorted; DataError when the root is missing."""
        raise NotImplementedError

    def category(self, data: DataSpec, name: str, seed: int) -> CategoryItems:
        raise NotImplementedError

    def selected(self, data: DataSpec) -> list[str]:
        """The categories the spec selects (categories / classes / exclude_classes), or all found."""
        found = self.found_categories(data)
        expected = self.expected(Path(data.root))
        if not found:
            raise DataError(f"{self.kind} root {data.root!r} holds no category; {expected}")
        return select_names(found, data, f"{self.kind} root {data.root!r}", "categories", expected)

    def class_items(self, data: DataSpec, name: str, split: Split, seed: int) -> list[FileItem]:
        """The category's images when it is one class of a multi-class set (pretraining, linear probe)."""
        items = self.category(data, name, seed)
        return items.train if split == "train" else items.test

    def require_root(self, data: DataSpec) -> Path:
        root = Path(data.root)
        if not root.is_dir():
            raise DataError(f"{self.kind} root {str(root)!r} does not exist; {self.expected(root)}")
        return root

    def unknown_category(self, data: DataSpec, name: str) -> DataError:
        found = self.found_categories(data)
        return DataError(
            f"{self.kind} root {data.root!r} has no category {name!r}; {self.expected(Path(data.root))}; "
            f"found: {', '.join(found) if found else 'no categories'}"
        )


def list_files(
    folder: Path, ignored: list[str] | None = None, extensions: tuple[str, ...] = IMAGE_EXTENSIONS
) -> list[Path]:
    """The image files directly in `folder`, sorted; other files are appended to `ignored` by path."""
    if not folder.is_dir():
        return []
    images = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        if path.suffix.lower() in extensions:
            images.append(path)
        elif ignored is not None:
            ignored.append(str(path))
    return images


def require_images(files: list[Path], folder: Path, what: str, expected: str) -> list[Path]:
    """`files`, or a DataError naming the folder that should hold them."""
    if not files:
        state = "holds no images" if folder.is_dir() else "does not exist"
        raise DataError(f"{what} folder {str(folder)!r} {state}; {expected}")
    return files


def normal(path: Path, box: tuple[int, int, int, int] | None = None) -> FileItem:
    """A normal test image: label 0 with an all-zero mask."""
    return FileItem(path, 0, zero_mask=True, box=box)


def defective(path: Path, mask: Path | None, missing: list[str]) -> FileItem:
    """A defective image: label 1 with its mask, or an all-zero mask recorded in `missing`."""
    if mask is None:
        missing.append(str(path))
    return FileItem(path, 1, mask_path=mask, zero_mask=mask is None)


def first_file(folder: Path, names: list[str]) -> Path | None:
    """The first of `names` that is a file in `folder`."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def unused(files: list[Path], used: list[FileItem]) -> list[str]:
    """The mask files no item refers to."""
    taken = {item.mask_path for item in used if item.mask_path is not None}
    return [str(path) for path in files if path not in taken]
