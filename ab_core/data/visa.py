"""The VisA layout: <root>/<category>/Data/{Images/{Normal,Anomaly}, Masks/Anomaly}, split_csv/1cls.csv.

The published split (`split_csv/1cls.csv`: object,split,label,image,mask with paths relative to the root)
is used when present; without it a seeded `test_fraction` of the normal images is held out and every
anomaly image is a test image. Masks may be 0/255 or 0/1 (any non-zero pixel is defect).
"""

from __future__ import annotations

import csv
from pathlib import Path

from ab_core.data.anomaly_layout import (
    AnomalyLayout,
    CategoryItems,
    defective,
    list_files,
    normal,
    require_images,
    unused,
)
from ab_core.data.dataset import FileItem
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec

SPLIT_FILE = Path("split_csv") / "1cls.csv"
_COLUMNS = ("object", "split", "label", "image", "mask")


class VisaLayout(AnomalyLayout):
    kind = "visa"

    def expected(self, root: Path) -> str:
        return (
            f"expected {root}/<category>/Data/Images/Normal, {root}/<category>/Data/Images/Anomaly, "
            f"{root}/<category>/Data/Masks/Anomaly (and optionally {root}/{SPLIT_FILE})"
        )

    def found_categories(self, data: DataSpec) -> list[str]:
        root = self.require_root(data)
        return sorted(p.name for p in root.iterdir() if (p / "Data" / "Images" / "Normal").is_dir())

    def category(self, data: DataSpec, name: str, seed: int) -> CategoryItems:
        root = Path(data.root)
        folder = root / name / "Data"
        if not (folder / "Images" / "Normal").is_dir():
            raise self.unknown_category(data, name)
        result = CategoryItems(name, [], [])
        normals = require_images(
            list_files(folder / "Images" / "Normal", result.ignored), folder / "Images" / "Normal",
            "visa normal", self.expected(root),
        )
        anomalies = list_files(folder / "Images" / "Anomaly", result.ignored)
        masks = list_files(folder / "Masks" / "Anomaly", result.ignored)
        by_stem = {path.stem: path for path in masks}
        if (root / SPLIT_FILE).is_file():
            result.train, result.test = _published_split(root, name, result.missing_masks)
        else:
            result.hold_out_normals(normals, data, seed)
            result.add_test([], anomalies, lambda p: by_stem.get(p.stem))
        result.orphan_masks = unused(masks, result.test)
        return result


def _published_split(root: Path, category: str, missing: list[str]) -> tuple[list[FileItem], list[FileItem]]:
    """The category's rows of split_csv/1cls.csv; DataError naming the file and the row that is wrong."""
    split_file = root / SPLIT_FILE
    train: list[FileItem] = []
    test: list[FileItem] = []
    with split_file.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or any(c not in reader.fieldnames for c in _COLUMNS):
            raise DataError(
                f"visa split file {str(split_file)!r} has columns {reader.fieldnames}; "
                f"expected: {','.join(_COLUMNS)}"
            )
        for line, row in enumerate(reader, start=2):
            if row["object"] != category:
                continue
            image = root / row["image"]
            if not image.is_file():
                raise DataError(f"visa split file {str(split_file)!r} line {line} names {str(image)!r}, "
                                "which does not exist")
            label, split = row["label"].strip().lower(), row["split"].strip().lower()
            if label not in ("normal", "anomaly") or split not in ("train", "test"):
                raise DataError(
                    f"visa split file {str(split_file)!r} line {line}: split {row['split']!r} label "
                    f"{row['label']!r}; accepted: split train/test, label normal/anomaly"
                )
            if split == "train":
                train.append(FileItem(image, 0))
            elif label == "normal":
                test.append(normal(image))
            else:
                mask = root / row["mask"] if row["mask"] else None
                test.append(defective(image, mask if mask is not None and mask.is_file() else None, missing))
    if not train:
        raise DataError(f"visa split file {str(split_file)!r} has no train rows for category {category!r}")
    return train, test


LAYOUT = VisaLayout()
