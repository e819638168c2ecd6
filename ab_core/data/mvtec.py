"""The MVTec-AD layout: <root>/<category>/{train/good, test/<defect>, ground_truth/<defect>/*_mask.png}."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ab_core.data.anomaly_layout import AnomalyLayout, CategoryItems, defective, list_files, normal, unused
from ab_core.data.dataset import FileDataset, FileItem
from ab_core.data.image_folder import image_files
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec

GOOD = "good"
CLASSES = ["good", "defective"]


def layout(root: Path) -> str:
    return (
        f"expected {root}/<category>/train/good, {root}/<category>/test/<defect>, "
        f"{root}/<category>/ground_truth/<defect>/*_mask.png"
    )


def found_categories(root: Path) -> list[str]:
    """Sorted names of the directories under root that hold train/good."""
    if not root.is_dir():
        raise DataError(f"mvtec root {str(root)!r} does not exist; {layout(root)}")
    return sorted(p.name for p in root.iterdir() if (p / "train" / GOOD).is_dir())


def check_category(root: Path, category: str) -> Path:
    folder = root / category
    if not (folder / "train" / GOOD).is_dir():
        found = found_categories(root)
        raise DataError(
            f"mvtec root {str(root)!r} has no category {category!r}; {layout(root)}; "
            f"found: {', '.join(found) if found else 'no categories'}"
        )
    return folder


def _mask_file(folder: Path, defect: str, stem: str) -> Path | None:
    for name in (f"{stem}_mask.png", f"{stem}.png"):
        path = folder / "ground_truth" / defect / name
        if path.is_file():
            return path
    return None


def _train_items(folder: Path) -> list[FileItem]:
    files = image_files(folder / "train" / GOOD)
    if not files:
        raise DataError(f"mvtec train folder {str(folder / 'train' / GOOD)!r} holds no images")
    return [FileItem(p, 0) for p in files]


def _test_items(folder: Path, missing: list[str]) -> list[FileItem]:
    test = folder / "test"
    if not test.is_dir():
        raise DataError(f"mvtec category {str(folder)!r} has no test folder; {layout(folder.parent)}")
    items = []
    for defect_dir in sorted(p for p in test.iterdir() if p.is_dir()):
        defect = defect_dir.name
        for path in image_files(defect_dir):
            mask = None if defect == GOOD else _mask_file(folder, defect, path.stem)
            items.append(normal(path) if defect == GOOD else defective(path, mask, missing))
    if not items:
        raise DataError(f"mvtec test folder {str(test)!r} holds no images in <defect> folders")
    return items


def open_mvtec(data: DataSpec, split: Literal["train", "test"], category: str | None) -> FileDataset:
    """One category (or, with category None, every selected category, labelled good / defective)."""
    root = Path(data.root)
    names = [category] if category is not None else LAYOUT.selected(data)
    if not names:
        raise DataError(f"mvtec root {str(root)!r} has no categories; {layout(root)}")
    items: list[FileItem] = []
    missing: list[str] = []
    for name in names:
        folder = check_category(root, name)
        items += _train_items(folder) if split == "train" else _test_items(folder, missing)
    return FileDataset(root, items, list(CLASSES), data.resize, data.crop, missing_masks=missing)


class MvtecLayout(AnomalyLayout):
    kind = "mvtec"

    def expected(self, root: Path) -> str:
        return layout(root)

    def found_categories(self, data: DataSpec) -> list[str]:
        return found_categories(Path(data.root))

    def category(self, data: DataSpec, name: str, seed: int) -> CategoryItems:
        folder = check_category(Path(data.root), name)
        result = CategoryItems(name, _train_items(folder), [])
        result.test = _test_items(folder, result.missing_masks)
        for part in ("train", "test"):
            for defect in sorted(p for p in (folder / part).iterdir() if p.is_dir()):
                list_files(defect, result.ignored)
        ground_truth = folder / "ground_truth"
        defects = sorted(d for d in ground_truth.glob("*") if d.is_dir())
        masks = [p for d in defects for p in list_files(d, result.ignored)]
        result.orphan_masks = unused(masks, result.test)
        return result


LAYOUT = MvtecLayout()
