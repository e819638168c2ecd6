"""`abs data check` and the check before a job: which layout a root has, what it holds, and what is wrong.

A report counts images per category (or class) and split, and lists images without masks, masks without
images, image / mask size mismatches, unreadable files and files that are not images. Errors (a layout
that cannot be read, unreadable files, size mismatches) fail a job before it starts; the rest are warnings.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ab_core.data.anomaly_layout import Split
from ab_core.data.anomaly_sets import is_anomaly_kind, layout_of
from ab_core.data.classes import class_counts
from ab_core.data.dataset import FileItem
from ab_core.data.image_folder import open_image_folder
from ab_core.data.loader import categories, open_dataset
from ab_core.data.verify import file_problems
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec


@dataclass
class DataReport:
    kind: str
    root: str
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # name -> split -> label -> n
    errors: list[str] = field(default_factory=list)
    missing_masks: list[str] = field(default_factory=list)  # defective images without a mask
    orphan_masks: list[str] = field(default_factory=list)  # masks without an image
    ignored: list[str] = field(default_factory=list)  # files that are not images of an accepted type
    unscored: dict[str, str] = field(default_factory=dict)  # "<category>/<split>" -> why

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}

    def lines(self) -> list[str]:
        """The report as readable lines, problems last."""
        out = [f"layout: {self.kind} at {self.root}"]
        for name, splits in self.counts.items():
            parts = [f"{split} " + ", ".join(f"{n} {label}" for label, n in labels.items())
                     for split, labels in splits.items()]
            out.append(f"  {name}: " + "; ".join(parts))
        for split, reason in self.unscored.items():
            out.append(f"  unscored {split}: {reason}")
        for title, entries in (("images without masks", self.missing_masks),
                               ("masks without images", self.orphan_masks),
                               ("ignored files (not an accepted image type)", self.ignored),
                               ("errors", self.errors)):
            if entries:
                out.append(f"{title} ({len(entries)}):")
                out += [f"  {entry}" for entry in entries]
        out.append("ok" if self.ok else f"{len(self.errors)} error(s)")
        return out


def detect_layout(root: Path) -> str:
    """The dataset kind whose layout `root` has; DataError naming the root when none fits."""
    if not root.is_dir():
        raise DataError(f"{str(root)!r} is not a directory")
    children = [p for p in root.iterdir() if p.is_dir()]
    signatures = (
        ("visa", lambda p: (p / "Data" / "Images" / "Normal").is_dir()),
        ("mvtec_ad2", lambda p: (p / "test_public").is_dir()),
        ("btad", lambda p: (p / "train" / "ok").is_dir()),
        ("dagm", lambda p: (p / "Train").is_dir() and (p / "Test").is_dir()),
        ("mvtec", lambda p: (p / "train" / "good").is_dir()),
    )
    if (root / "NODefect_images").is_dir() and (root / "Defect_images").is_dir():
        return "aitex"
    for kind, fits in signatures:
        if any(fits(p) for p in children):
            return kind
    if children:
        return "image_folder"
    raise DataError(
        f"{str(root)!r} has no layout this project reads (mvtec, visa, mvtec_ad2, btad, dagm, aitex, "
        "image_folder); for a folder of your own give a spec with dataset 'folder' and normal_dir"
    )


def check_data(data: DataSpec, seed: int = 0, decode: bool = True) -> DataReport:
    """Everything `abs data check` reports on one data section; `decode` reads every file in full."""
    report = DataReport(data.dataset, data.root)
    try:
        if is_anomaly_kind(data.dataset):
            _check_anomaly(data, seed, decode, report)
        elif data.dataset == "image_folder":
            _check_image_folder(data, seed, decode, report)
        else:
            dataset = open_dataset(data.model_copy(update={"cache": "none"}), "train", seed=seed)
            report.counts = {name: {"train": {"images": n}} for name, n in class_counts(dataset).items()}
    except DataError as error:
        report.errors.append(str(error))
    return report


def check_before_job(data: DataSpec, seed: int, evaluate: bool) -> None:
    """The files a job will read, checked before it starts (headers only): DataError naming the file."""
    if data.dataset in ("stl10", "cifar10"):
        return  # torchvision checks its own files when it opens them
    plain = data.model_copy(update={"cache": "none"})
    if evaluate and is_anomaly_kind(data.dataset):
        for category in categories(plain):
            open_dataset(plain, "train", category, seed)
            open_dataset(plain, "test", category, seed)
        return
    splits: tuple[Split, ...] = ("train", "test") if evaluate else ("train",)
    for split in splits:
        open_dataset(plain, split, seed=seed)


def _check_anomaly(data: DataSpec, seed: int, decode: bool, report: DataReport) -> None:
    layout = layout_of(data)
    for name in layout.selected(data):
        try:
            items = layout.category(data, name, seed)
        except DataError as error:
            report.errors.append(str(error))
            continue
        test = Counter("defective" if item.label else "normal" for item in items.test)
        ordered = {label: test[label] for label in ("normal", "defective") if label in test}
        report.counts[name] = {"train": {"normal": len(items.train)}, "test": ordered}
        report.counts[name] |= {split: {"images": n} for split, n in items.other_counts.items()}
        report.missing_masks += items.missing_masks
        report.orphan_masks += items.orphan_masks
        report.ignored += items.ignored
        report.unscored |= {f"{name}/{split}": reason for split, reason in items.unscored.items()}
        _add_file_problems(items.train + items.test, decode, report)


def _check_image_folder(data: DataSpec, seed: int, decode: bool, report: DataReport) -> None:
    with_test = data.test_fraction > 0 or (Path(data.root) / "test").is_dir()
    splits: tuple[Split, ...] = ("train", "test") if with_test else ("train",)
    for split in splits:
        dataset = open_image_folder(data, split, seed)
        for name, count in class_counts(dataset).items():
            report.counts.setdefault(name, {})[split] = {"images": count}
        _add_file_problems(dataset.items, decode, report)


def _add_file_problems(items: list[FileItem], decode: bool, report: DataReport) -> None:
    unreadable, mismatches = file_problems(items, decode)
    report.errors += [line for line in unreadable + mismatches if line not in report.errors]


