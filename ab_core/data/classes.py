"""Class selection (`data.classes` / `exclude_classes`) and the per-class image counts a result records."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

from ab_core.data.dataset import ImageDataset, Sample
from ab_core.errors import DataError
from ab_core.spec_sections import DataSpec


def select_names(
    found: Sequence[str], data: DataSpec, where: str, what: str = "classes", hint: str = ""
) -> list[str]:
    """`found` narrowed by data.classes (for categories: data.categories too) and data.exclude_classes;
    in the spec's order where it names them, else in found order.

    A name that is not in `found` is a DataError naming it, `where` it was looked for and what was found.
    """
    wanted = data.classes if data.classes is not None or what != "categories" else data.categories
    for given in (wanted, data.exclude_classes):
        unknown = [name for name in given or [] if name not in found]
        if unknown:
            raise DataError(
                f"{where} has no {what} {', '.join(repr(n) for n in unknown)}; {hint + '; ' if hint else ''}"
                f"found: {', '.join(found) if found else f'no {what}'}"
            )
    chosen = [name for name in found if wanted is None or name in wanted]
    if wanted is not None:
        chosen = sorted(chosen, key=list(wanted).index)  # the order the spec gives
    chosen = [name for name in chosen if name not in (data.exclude_classes or [])]
    if not chosen:
        raise DataError(f"{where}: the class selection leaves no {what}; found: {', '.join(found)}")
    return chosen


def class_counts(dataset: ImageDataset) -> dict[str, int]:
    """{class name: images} of a dataset, from its labels (nothing decoded)."""
    counts = Counter(dataset.labels())
    return {name: counts.get(index, 0) for index, name in enumerate(dataset.classes)}


def filter_classes(dataset: ImageDataset, data: DataSpec, where: str) -> ImageDataset:
    """The dataset with only the selected classes, relabelled 0..k-1 (a view: nothing is copied)."""
    if data.classes is None and data.exclude_classes is None:
        return dataset
    keep = select_names(dataset.classes, data, where)
    return ClassSubset(dataset, keep)


class ClassSubset(ImageDataset):
    """The images of `keep` classes of `base`, labelled by their index in `keep`."""

    def __init__(self, base: ImageDataset, keep: list[str]):
        self.base = base
        self.classes = list(keep)
        self.missing_masks = base.missing_masks
        relabel = {base.classes.index(name): new for new, name in enumerate(keep)}
        labels = base.labels()
        self.indices = [i for i, label in enumerate(labels) if label in relabel]
        self._labels = [relabel[labels[i]] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Sample:
        sample = self.base[self.indices[i]]
        return Sample(sample.image, self._labels[i], sample.mask, sample.path)

    def labels(self) -> list[int]:
        return list(self._labels)

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.base.fingerprint()};classes={self.classes}".encode()).hexdigest()
