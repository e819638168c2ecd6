"""Test data with a fault in it: an image folder one of whose classes holds only corrupt files."""

from __future__ import annotations

import shutil
from pathlib import Path


def folder_with_corrupt_images(classes: Path, dest: Path, per_class: int = 4) -> Path:
    """`dest/<class>/*.png` for two classes of `classes`; every file of the second is garbage, so any
    training split and any batch order reads one. Returns `dest`."""
    good, bad = sorted(p for p in classes.iterdir() if p.is_dir())[:2]
    for source in (good, bad):
        (dest / source.name).mkdir(parents=True)
        for image in sorted(source.glob("*.png"))[:per_class]:
            shutil.copy(image, dest / source.name / image.name)
    for image in (dest / bad.name).glob("*.png"):
        image.write_bytes(b"this is not a png\x00" * 8)
    return dest
