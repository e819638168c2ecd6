"""Checks of every file a dataset lists, run before a job reads a batch: unreadable files and image / mask
size mismatches fail at once, naming the file, instead of mid-epoch."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from ab_core.data.dataset import FileItem
from ab_core.errors import DataError

SHOWN = 5  # problems quoted in one error message


def image_size(path: Path, decode: bool = False) -> tuple[int, int] | str:
    """(width, height) from the file's header (or a full decode), or the reason it cannot be read."""
    try:
        with Image.open(path) as image:
            if decode:
                image.load()
            return image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"cannot read image file {str(path)!r} ({error})"


def file_problems(items: Iterable[FileItem], decode: bool = False) -> tuple[list[str], list[str]]:
    """(unreadable files, size mismatches), one line each; every file is opened once."""
    sizes: dict[Path, tuple[int, int] | str] = {}
    unreadable: list[str] = []
    mismatches: list[str] = []

    def size_of(path: Path) -> tuple[int, int] | None:
        if path not in sizes:
            sizes[path] = image_size(path, decode)
            if isinstance(sizes[path], str):
                unreadable.append(str(sizes[path]))
        found = sizes[path]
        return None if isinstance(found, str) else found

    for item in items:
        size = size_of(item.path)
        mask = None if item.mask_path is None else size_of(item.mask_path)
        if size is not None and mask is not None and mask != size:
            line = (f"mask {str(item.mask_path)!r} is {mask[0]}x{mask[1]} but image {str(item.path)!r} is "
                    f"{size[0]}x{size[1]}")
            if line not in mismatches:
                mismatches.append(line)
        if size is not None and item.box is not None and (item.box[2] > size[0] or item.box[3] > size[1]):
            mismatches.append(f"tile {item.box} lies outside image {str(item.path)!r} ({size[0]}x{size[1]})")
    return unreadable, mismatches


def verify_files(items: Iterable[FileItem], where: str) -> None:
    """DataError naming the first unreadable or mismatched files of `items`."""
    unreadable, mismatches = file_problems(items)
    problems = unreadable + mismatches
    if problems:
        hidden = len(problems) - SHOWN
        more = f"; and {hidden} more (abs data check lists all)" if hidden > 0 else ""
        raise DataError(f"{where}: {'; '.join(problems[:SHOWN])}{more}")
