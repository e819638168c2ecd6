"""The DAGM 2007 layout: <root>/ClassN/{Train,Test}/*.PNG with Label/Labels.txt and Label/<stem>_label.PNG.

Labels.txt: a header line, then one tab-separated row per image: index, defect flag (0/1), image file,
and (for defects) the label (mask) file. As an anomaly set each class is a category: its train split is
Train's defect-free images, its test split all of Test. As a multi-class set (pretraining, the study's use)
each class is one label and Train / Test are the splits, defects included.
"""

from __future__ import annotations

from pathlib import Path

from ab_core.data.anomaly_layout import (
    AnomalyLayout,
    CategoryItems,
    Split,
    defective,
    first_file,
    list_files,
    normal,
    unused,
)
from ab_core.data.dataset import FileItem
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec

LABELS = Path("Label") / "Labels.txt"


class DagmLayout(AnomalyLayout):
    kind = "dagm"

    def expected(self, root: Path) -> str:
        return (
            f"expected {root}/ClassN/Train and {root}/ClassN/Test, each with images, Label/Labels.txt and "
            "Label/<name>_label.PNG masks"
        )

    def found_categories(self, data: DataSpec) -> list[str]:
        root = self.require_root(data)
        names = [p.name for p in root.iterdir() if (p / "Train").is_dir() and (p / "Test").is_dir()]
        return sorted(names, key=lambda n: (len(n), n))  # Class2 before Class10

    def category(self, data: DataSpec, name: str, seed: int) -> CategoryItems:
        folder = Path(data.root) / name
        if not (folder / "Train").is_dir():
            raise self.unknown_category(data, name)
        result = CategoryItems(name, [], [])
        train = _rows(folder / "Train", result)
        result.train = [FileItem(path, 0) for path, flag, _ in train if not flag]
        if not result.train:
            raise DataError(f"dagm {str(folder / 'Train')!r} has no defect-free images (flag 0 in {LABELS})")
        for path, flag, mask in _rows(folder / "Test", result):
            result.test.append(defective(path, mask, result.missing_masks) if flag else normal(path))
        masks = list_files(folder / "Train" / "Label") + list_files(folder / "Test" / "Label")
        used = result.test + [FileItem(p, 1, mask_path=m) for p, flag, m in train if m is not None]
        result.orphan_masks = unused(masks, used)
        return result

    def class_items(self, data: DataSpec, name: str, split: Split, seed: int) -> list[FileItem]:
        folder = Path(data.root) / name
        if not (folder / "Train").is_dir():
            raise self.unknown_category(data, name)
        rows = _rows(folder / ("Train" if split == "train" else "Test"), CategoryItems(name, [], []))
        return [FileItem(path, 0) for path, _, _ in rows]


def _rows(folder: Path, result: CategoryItems) -> list[tuple[Path, bool, Path | None]]:
    """(image, is defective, mask or None) for every row of folder/Label/Labels.txt."""
    labels = folder / LABELS
    if not labels.is_file():
        raise DataError(f"dagm labels file {str(labels)!r} does not exist; expected Label/Labels.txt in "
                        f"{str(folder)!r} (a header line, then: index, defect flag, image, 0, mask file)")
    images = {p.name: p for p in list_files(folder, result.ignored)}
    rows = []
    for number, line in enumerate(labels.read_text().splitlines()[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 3 or fields[1] not in ("0", "1"):
            raise DataError(f"dagm labels file {str(labels)!r} line {number} is {line!r}; expected: "
                            "index, defect flag 0/1, image file[, 0, mask file]")
        image = images.get(fields[2])
        if image is None:
            raise DataError(f"dagm labels file {str(labels)!r} line {number} names {fields[2]!r}, which is "
                            f"not an image in {str(folder)!r}")
        mask = None
        if fields[1] == "1":
            named = [fields[4]] if len(fields) > 4 and fields[4] != "0" else []
            candidates = [*named, f"{image.stem}_label.PNG", f"{image.stem}_label.png"]
            mask = first_file(folder / "Label", candidates)
            if mask is None:
                result.missing_masks.append(str(image))
        rows.append((image, fields[1] == "1", mask))
    if not rows:
        raise DataError(f"dagm labels file {str(labels)!r} lists no images")
    return rows


LAYOUT = DagmLayout()
