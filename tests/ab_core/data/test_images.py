"""Image and mask files of any mode load as RGB uint8 with the right values and geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ab_core.data.images import decode, load_mask, load_rgb
from ab_core.errors import DataError


def _pixel(path: Path) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.asarray(load_rgb(path))[0, 0])


def test_grey_image_loads_as_equal_rgb_channels(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 4), 77, np.uint8), "L").save(tmp_path / "g.png")
    assert load_rgb(tmp_path / "g.png").mode == "RGB"
    assert _pixel(tmp_path / "g.png") == (77, 77, 77)


def test_rgba_image_drops_alpha_and_keeps_colour(tmp_path: Path) -> None:
    Image.fromarray(np.tile(np.array([10, 20, 30, 0], np.uint8), (4, 4, 1)), "RGBA").save(tmp_path / "a.png")
    assert _pixel(tmp_path / "a.png") == (10, 20, 30)


def test_grey_with_alpha_loads_as_rgb(tmp_path: Path) -> None:
    Image.fromarray(np.tile(np.array([90, 128], np.uint8), (4, 4, 1)), "LA").save(tmp_path / "la.png")
    assert _pixel(tmp_path / "la.png") == (90, 90, 90)


def test_palette_image_loads_its_palette_colour(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    image.save(tmp_path / "p.png")
    assert _pixel(tmp_path / "p.png") == (200, 100, 50)


def test_sixteen_bit_image_is_scaled_by_its_range_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257 * 100], [65535, 257 * 200]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode in ("I;16", "I")
    rgb = np.asarray(load_rgb(tmp_path / "deep.png"))
    assert rgb[..., 0].tolist() == [[0, 100], [255, 200]]
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_float_image_in_unit_range_is_scaled_to_255(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0.0, 0.5], [1.0, 0.25]], np.float32), "F").save(tmp_path / "f.tiff")
    assert np.asarray(load_rgb(tmp_path / "f.tiff"))[..., 1].tolist() == [[0, 128], [255, 64]]


def test_corrupt_file_raises_data_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(DataError, match="broken.png"):
        load_rgb(bad)


def test_truncated_file_raises_data_error_naming_the_file(tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.png"):
        decode(tmp_path / "cut.png", 32, 32)


def test_decode_resizes_the_shorter_side_then_centre_crops(tmp_path: Path) -> None:
    array = np.zeros((40, 80, 3), np.uint8)
    array[:, 20:60] = 255  # a white centre band, as wide as the crop after resizing to 20 x 40
    Image.fromarray(array).save(tmp_path / "wide.png")
    image = decode(tmp_path / "wide.png", resize=20, crop=20)
    assert image.shape == (3, 20, 20) and image.dtype == torch.uint8
    assert image[:, :, 2:-2].min() == 255  # the crop lies inside the white band


def test_mask_has_the_images_geometry_and_is_binary_even_at_another_size(tmp_path: Path) -> None:
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 40:] = 255  # right half
    mask = np.zeros((20, 40), np.uint8)
    mask[:, 20:] = 255  # the same right half, at half resolution
    Image.fromarray(image).save(tmp_path / "img.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    decoded = decode(tmp_path / "img.png", 16, 16)
    loaded = load_mask(tmp_path / "mask.png", 16, 16)
    assert loaded.shape == (1, 16, 16) and loaded.dtype == torch.uint8
    assert set(loaded.unique().tolist()) == {0, 1}
    assert torch.equal(loaded[0, :, 9:].bool(), decoded[0, :, 9:] > 127)
    assert loaded[0, :, :7].sum() == 0
