"""The MVTec AD 2 layout: <category>/{train/good, validation/good, test_public/{good,bad,ground_truth/bad}}.

Masks are `test_public/ground_truth/bad/<stem>_mask.png`. `test_private` and `test_private_mixed` hold no
labels (MVTec's evaluation server scores them): they are counted and reported as unscored, with the reason.
`validation/good` is counted, not loaded (it is for choosing thresholds, not for fitting).
"""

from __future__ import annotations

from pathlib import Path

from ab_core.data.anomaly_layout import (
    AnomalyLayout,
    CategoryItems,
    first_file,
    list_files,
    require_images,
    unused,
)
from ab_core.data.dataset import FileItem
from ab_core.spec_sections import DataSpec

PRIVATE_SPLITS = ("test_private", "test_private_mixed")
PRIVATE_REASON = "no public ground truth: MVTec's evaluation server (benchmark.mvtec.com) scores it"


class MvtecAd2Layout(AnomalyLayout):
    kind = "mvtec_ad2"

    def expected(self, root: Path) -> str:
        return (
            f"expected {root}/<category>/train/good, {root}/<category>/test_public/good, "
            f"{root}/<category>/test_public/bad, "
            f"{root}/<category>/test_public/ground_truth/bad/<name>_mask.png"
        )

    def found_categories(self, data: DataSpec) -> list[str]:
        root = self.require_root(data)
        return sorted(
            p.name for p in root.iterdir() if (p / "train" / "good").is_dir() and (p / "test_public").is_dir()
        )

    def category(self, data: DataSpec, name: str, seed: int) -> CategoryItems:
        root = Path(data.root)
        folder = root / name
        if not (folder / "train" / "good").is_dir():
            raise self.unknown_category(data, name)
        result = CategoryItems(name, [], [])
        train = list_files(folder / "train" / "good", result.ignored)
        result.train = [FileItem(p, 0) for p in require_images(
            train, folder / "train" / "good", "mvtec_ad2 train", self.expected(root))]
        test = folder / "test_public"
        good = list_files(test / "good", result.ignored)
        bad = list_files(test / "bad", result.ignored)
        require_images(good + bad, test, "mvtec_ad2 test_public", self.expected(root))
        ground_truth = test / "ground_truth" / "bad"
        result.add_test(
            good, bad, lambda p: first_file(ground_truth, [f"{p.stem}_mask.png", f"{p.stem}_mask{p.suffix}"])
        )
        result.orphan_masks = unused(list_files(ground_truth, result.ignored), result.test)
        result.other_counts["validation"] = len(list_files(folder / "validation" / "good", result.ignored))
        for split in PRIVATE_SPLITS:
            count = len(list_files(folder / split, result.ignored))
            if count:
                result.other_counts[split] = count
                result.unscored[split] = f"{count} images, {PRIVATE_REASON}"
        return result


LAYOUT = MvtecAd2Layout()
