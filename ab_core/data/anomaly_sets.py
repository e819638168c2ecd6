"""The anomaly-layout kinds by name, and a `DataSpec` of one of them opened as a dataset.

With a category: that category's train (normal) or test (good = 0 / defective = 1, with masks) split, as
anomaly detectors read it. Without one: every selected category is one class (pretraining, linear probe),
except mvtec, which keeps joining its categories as good / defective.
"""

from __future__ import annotations

from pathlib import Path

from ab_core.data import aitex, btad, dagm, folder, mvtec, mvtec_ad2, visa
from ab_core.data.anomaly_layout import AnomalyLayout, Split
from ab_core.data.dataset import FileDataset, FileItem
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec

LAYOUTS: dict[str, AnomalyLayout] = {
    module.LAYOUT.kind: module.LAYOUT for module in (mvtec, visa, mvtec_ad2, btad, dagm, aitex, folder)
}
ANOMALY_KINDS = tuple(LAYOUTS)
ANOMALY_CLASSES = ["good", "defective"]


def is_anomaly_kind(kind: str) -> bool:
    """Whether `kind` is a layout with normal train images and labelled, masked test images per category."""
    return kind in LAYOUTS


def layout_of(data: DataSpec) -> AnomalyLayout:
    if data.dataset not in LAYOUTS:
        accepted = ", ".join(LAYOUTS)
        raise DataError(f"data.dataset {data.dataset!r} has no anomaly layout; accepted: {accepted}")
    return LAYOUTS[data.dataset]


def open_anomaly(data: DataSpec, split: Split, category: str | None, seed: int) -> FileDataset:
    layout = layout_of(data)
    if data.dataset == "mvtec":
        return mvtec.open_mvtec(data, split, category)
    root = Path(data.root)
    if category is not None:
        items = layout.category(data, category, seed)
        chosen = items.train if split == "train" else items.test
        if not chosen:
            raise DataError(f"{data.dataset} category {category!r} under {data.root!r} has no {split} "
                            f"images; {layout.expected(root)}")
        missing = items.missing_masks if split == "test" else []
        return FileDataset(root, chosen, list(ANOMALY_CLASSES), data.resize, data.crop, missing_masks=missing)
    names = layout.selected(data)
    classes: list[FileItem] = []
    for label, name in enumerate(names):
        found = layout.class_items(data, name, split, seed)
        if not found:
            raise DataError(f"{data.dataset} class {name!r} under {data.root!r} has no {split} images")
        classes += [FileItem(i.path, label, box=i.box) for i in found]
    return FileDataset(root, classes, names, data.resize, data.crop)


def unscored_splits(data: DataSpec, seed: int = 0) -> dict[str, str]:
    """"<category>/<split>" -> why that split is not scored (MVTec AD 2's private test sets); else {}."""
    if not is_anomaly_kind(data.dataset):
        return {}
    layout = layout_of(data)
    return {
        f"{name}/{split}": reason
        for name in layout.selected(data)
        for split, reason in layout.category(data, name, seed).unscored.items()
    }
