"""The BTAD (BeanTech) layout: <root>/<nn>/{train/ok, test/ok, test/ko, ground_truth/ko}.

Images are .bmp or .png; the mask of `test/ko/<stem>.*` is `ground_truth/ko/<stem>.png` or `.bmp`.
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

MASK_SUFFIXES = (".png", ".bmp")


class BtadLayout(AnomalyLayout):
    kind = "btad"

    def expected(self, root: Path) -> str:
        return (
            f"expected {root}/<nn>/train/ok, {root}/<nn>/test/ok, {root}/<nn>/test/ko, "
            f"{root}/<nn>/ground_truth/ko/<name>.png or .bmp"
        )

    def found_categories(self, data: DataSpec) -> list[str]:
        root = self.require_root(data)
        return sorted(p.name for p in root.iterdir() if (p / "train" / "ok").is_dir())

    def category(self, data: DataSpec, name: str, seed: int) -> CategoryItems:
        root = Path(data.root)
        folder = root / name
        if not (folder / "train" / "ok").is_dir():
            raise self.unknown_category(data, name)
        result = CategoryItems(name, [], [])
        train = list_files(folder / "train" / "ok", result.ignored)
        require_images(train, folder / "train" / "ok", "btad train", self.expected(root))
        result.train = [FileItem(p, 0) for p in train]
        ok = list_files(folder / "test" / "ok", result.ignored)
        ko = list_files(folder / "test" / "ko", result.ignored)
        require_images(ok + ko, folder / "test", "btad test", self.expected(root))
        ground_truth = folder / "ground_truth" / "ko"
        result.add_test(ok, ko, lambda p: first_file(ground_truth, [p.stem + s for s in MASK_SUFFIXES]))
        result.orphan_masks = unused(list_files(ground_truth, result.ignored), result.test)
        return result


LAYOUT = BtadLayout()
