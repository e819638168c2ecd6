"""The `folder` kind, anomalib's custom-data convention: normal_dir, abnormal_dir, mask_dir, normal_test_dir.

Directories are relative to data.root (or absolute). A defective image's mask is the file in mask_dir with
the same stem (or `<stem>_mask`), any image extension. Without normal_test_dir a seeded `test_fraction`
of normal_dir is held out for the test split; without mask_dir only image metrics are scored. The one
category is named after the root folder.
"""

from __future__ import annotations

from pathlib import Path

from ab_core.data.anomaly_layout import (
    AnomalyLayout,
    CategoryItems,
    list_files,
    normal,
    require_images,
    unused,
)
from ab_core.data.dataset import FileItem
from ab_core.data.images import IMAGE_EXTENSIONS
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec


def extensions(data: DataSpec) -> tuple[str, ...]:
    """data.extensions as lower-case '.ext' suffixes (default: every image type the project reads)."""
    if not data.extensions:
        return IMAGE_EXTENSIONS
    given = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in data.extensions)
    unknown = [e for e in given if e not in IMAGE_EXTENSIONS]
    if unknown:
        raise DataError(f"data.extensions {unknown} cannot be read; accepted: {' '.join(IMAGE_EXTENSIONS)}")
    return given


class FolderLayout(AnomalyLayout):
    kind = "folder"

    def expected(self, root: Path) -> str:
        return (
            f"expected data.normal_dir (normal images), data.abnormal_dir (defective images) and optionally "
            f"data.mask_dir and data.normal_test_dir, each a folder under {root}"
        )

    def found_categories(self, data: DataSpec) -> list[str]:
        return [Path(data.root).resolve().name or "folder"]

    def _dir(self, data: DataSpec, name: str | None) -> Path | None:
        return None if name is None else Path(data.root) / name  # an absolute name stays absolute

    def category(self, data: DataSpec, name: str, seed: int) -> CategoryItems:
        root = self.require_root(data)
        if name not in self.found_categories(data):
            raise self.unknown_category(data, name)
        result = CategoryItems(name, [], [])
        suffixes = extensions(data)
        normal_dir = self._dir(data, data.normal_dir)
        if normal_dir is None:
            raise DataError(f"dataset 'folder' needs data.normal_dir; {self.expected(root)}")
        normals = require_images(list_files(normal_dir, result.ignored, suffixes), normal_dir,
                                 "folder normal_dir", self.expected(root))
        test_dir = self._dir(data, data.normal_test_dir)
        if test_dir is not None:
            result.train = [FileItem(p, 0) for p in normals]
            result.test = [normal(p) for p in require_images(
                list_files(test_dir, result.ignored, suffixes), test_dir, "folder normal_test_dir",
                self.expected(root))]
        else:
            result.hold_out_normals(normals, data, seed)
        abnormal_dir = self._dir(data, data.abnormal_dir)
        if abnormal_dir is not None:
            abnormal = require_images(list_files(abnormal_dir, result.ignored, suffixes), abnormal_dir,
                                      "folder abnormal_dir", self.expected(root))
            mask_dir = self._dir(data, data.mask_dir)
            masks = list_files(mask_dir, result.ignored) if mask_dir is not None else []
            by_stem = {p.stem: p for p in masks} | {p.stem.removesuffix("_mask"): p for p in masks}
            if mask_dir is None:  # no masks at all: image metrics only
                result.test += [FileItem(p, 1) for p in abnormal]
            else:
                result.add_test([], abnormal, lambda p: by_stem.get(p.stem))
            result.orphan_masks = unused(masks, result.test)
        return result


LAYOUT = FolderLayout()
