"""Fixtures of the data tests: an editable copy of synthetic MVTec categories, and miniatures of VisA,
MVTec AD 2, BTAD, DAGM 2007, AITEX and a custom folder written in each one's real layout and file names."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def mvtec_copy(synth_root: Path, tmp_path: Path) -> Path:
    """tmp/mvtec/<screw, grid>: copies a test may edit (delete masks, add files)."""
    root = tmp_path / "mvtec"
    for category in ("screw", "grid"):
        shutil.copytree(synth_root / "mvtec" / category, root / category)
    return root


# Miniatures of the real datasets, in their exact layouts and file names (a few 16 px images each).

def write_image(
    path: Path, value: int = 120, size: tuple[int, int] = (16, 16), fmt: str | None = None
) -> Path:
    """An RGB image of one grey value, width x height `size`, in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path, format=fmt)
    return path


def write_mask(
    path: Path, on: int = 255, size: tuple[int, int] = (16, 16), box: tuple = (4, 4, 8, 8)
) -> Path:
    """A grey mask, 0 outside `box` (left, top, right, bottom) and `on` inside (255 or 1)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.zeros((size[1], size[0]), np.uint8)
    array[box[1] : box[3], box[0] : box[2]] = on
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def visa_root(tmp_path: Path) -> Path:
    """VisA: <cat>/Data/Images/{Normal/0000.JPG.., Anomaly/000.JPG..}, Masks/Anomaly/000.png (0/255),
    001.png (0/1)."""
    root = tmp_path / "VisA_20220922"
    for category in ("candle", "pcb1"):
        data = root / category / "Data"
        for i in range(5):
            write_image(data / "Images" / "Normal" / f"{i:04d}.JPG", 100 + i, fmt="JPEG")
        for i, on in enumerate((255, 1)):
            write_image(data / "Images" / "Anomaly" / f"{i:03d}.JPG", 200, fmt="JPEG")
            write_mask(data / "Masks" / "Anomaly" / f"{i:03d}.png", on)
    return root


@pytest.fixture
def visa_split(visa_root: Path) -> Path:
    """split_csv/1cls.csv: candle's Normal 0000-0002 train; 0003 and both anomalies test (0004 unlisted)."""
    rows = ["object,split,label,image,mask"]
    rows += [f"candle,train,normal,candle/Data/Images/Normal/{i:04d}.JPG," for i in range(3)]
    rows.append("candle,test,normal,candle/Data/Images/Normal/0003.JPG,")
    rows += [f"candle,test,anomaly,candle/Data/Images/Anomaly/{i:03d}.JPG,"
             f"candle/Data/Masks/Anomaly/{i:03d}.png" for i in range(2)]
    rows += [f"pcb1,train,normal,pcb1/Data/Images/Normal/{i:04d}.JPG," for i in range(5)]
    (visa_root / "split_csv").mkdir()
    (visa_root / "split_csv" / "1cls.csv").write_text("\n".join(rows) + "\n")
    return visa_root / "split_csv" / "1cls.csv"


@pytest.fixture
def mvtec_ad2_root(tmp_path: Path) -> Path:
    """MVTec AD 2: can/{train,validation}/good, test_public/{good,bad,ground_truth/bad/*_mask.png} and the
    unlabelled test_private, test_private_mixed."""
    root = tmp_path / "mvtec_ad_2"
    can = root / "can"
    for i in range(3):
        write_image(can / "train" / "good" / f"{i:03d}_regular.png", 90 + i)
    write_image(can / "validation" / "good" / "000_regular.png")
    write_image(can / "test_public" / "good" / "000_regular.png")
    for i in range(2):
        write_image(can / "test_public" / "bad" / f"{i:03d}_regular.png", 200)
        write_mask(can / "test_public" / "ground_truth" / "bad" / f"{i:03d}_regular_mask.png")
    write_image(can / "test_private" / "000_regular.png")
    write_image(can / "test_private_mixed" / "000_mixed.png")
    return root


@pytest.fixture
def btad_root(tmp_path: Path) -> Path:
    """BTAD: 01 (.bmp images, .png masks) and 03 (.bmp masks): train/ok, test/{ok,ko}, ground_truth/ko."""
    root = tmp_path / "BTech_Dataset_transformed"
    for category, mask_suffix in (("01", ".png"), ("03", ".bmp")):
        folder = root / category
        for i in range(3):
            write_image(folder / "train" / "ok" / f"{i:04d}.bmp", 80 + i)
        write_image(folder / "test" / "ok" / "0000.bmp")
        for i in range(2):
            write_image(folder / "test" / "ko" / f"{i:04d}.bmp", 220)
            write_mask(folder / "ground_truth" / "ko" / f"{i:04d}{mask_suffix}")
    return root


def _dagm_split(folder: Path, defective: set[int], count: int = 4) -> None:
    lines = ["1"]
    for i in range(1, count + 1):
        name = f"{i:04d}.PNG"
        write_image(folder / name, 60 + i)
        if i in defective:
            write_mask(folder / "Label" / f"{i:04d}_label.PNG")
            lines.append(f"{i}\t1\t{name}\t0\t{i:04d}_label.PNG")
        else:
            lines.append(f"{i}\t0\t{name}\t0\t0")
    (folder / "Label").mkdir(exist_ok=True)
    (folder / "Label" / "Labels.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def dagm_root(tmp_path: Path) -> Path:
    """DAGM 2007: Class1, Class2 (and Class10, to pin the order), Train/Test with Label/Labels.txt, masks."""
    root = tmp_path / "DAGM2007"
    for name in ("Class1", "Class2", "Class10"):
        _dagm_split(root / name / "Train", defective={3})
        _dagm_split(root / name / "Test", defective={2, 4})
    return root


@pytest.fixture
def aitex_root(tmp_path: Path) -> Path:
    """AITEX at 64x16 (4 tiles of 16): fabric 00 (3 clean, 1 defect in x 40-56), fabric 01 (2 clean)."""
    root = tmp_path / "AITEX"
    clean = root / "NODefect_images"
    for i in range(3):
        write_image(clean / "2311694-2040n7u" / f"{i + 1:04d}_000_00.png", 50 + i, (64, 16))
    for i in range(2):
        write_image(clean / "2306881-210020u" / f"{i + 10:04d}_000_01.png", 70, (64, 16))
    array = np.zeros((16, 64, 3), np.uint8)
    for tile in range(4):
        array[:, tile * 16 : (tile + 1) * 16] = 40 * (tile + 1)  # each tile its own grey
    (root / "Defect_images").mkdir(parents=True)
    Image.fromarray(array).save(root / "Defect_images" / "0020_002_00.png")
    write_mask(root / "Mask_images" / "0020_002_00_mask.png", 255, (64, 16), (40, 2, 56, 10))
    return root


@pytest.fixture
def folder_root(tmp_path: Path) -> Path:
    """A folder of one's own in anomalib's convention: good/, defect/, masks/ (same file names)."""
    root = tmp_path / "my_parts"
    for i in range(5):
        write_image(root / "good" / f"part_{i}.png", 100 + i)
    for i in range(2):
        write_image(root / "defect" / f"scratch_{i}.png", 210)
        write_mask(root / "masks" / f"scratch_{i}.png")
    for i in range(2):
        write_image(root / "good_test" / f"part_t{i}.png", 130)
    return root


class Writers:
    """The miniature writers, for tests that break a miniature."""

    image = staticmethod(write_image)
    mask = staticmethod(write_mask)


@pytest.fixture
def write() -> type[Writers]:
    return Writers
