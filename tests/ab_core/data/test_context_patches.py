"""Context-prediction patches: the grid's geometry, the neighbour labels, and the colour guards."""

from __future__ import annotations

import pytest
import torch

from ab_core.data.context_patches import (
    CENTRE,
    NEIGHBOUR_CELLS,
    NEIGHBOURS,
    drop_colours,
    grid_extent,
    guarded_patches,
    patch_grid,
    project_out_green_magenta,
)


def test_labels_name_the_neighbours_in_reading_order():
    # the paper's Fig. 2: 1 2 3 / 4 . 5 / 6 7 8 around the centre, here 0..7
    assert NEIGHBOURS == ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
    assert NEIGHBOUR_CELLS == (0, 1, 2, 3, 5, 6, 7, 8) and CENTRE == 4


def test_a_known_grid_gives_each_cell_at_its_place_and_each_label_its_neighbour():
    """An image tiled so that every pixel holds its 3x3 cell's (row, column): with no gap and no
    jitter the grid is the tiling itself, and neighbour k of the centre holds centre + NEIGHBOURS[k]."""
    patch = 5
    rows = torch.arange(15).view(-1, 1).expand(15, 15) // patch  # (15, 15) cell row of each pixel
    cols = torch.arange(15).view(1, -1).expand(15, 15) // patch
    image = torch.stack([rows, cols, torch.zeros_like(rows)]).to(torch.uint8)[None]  # (1, 3, 15, 15)
    grid = patch_grid(image, patch, gap=0, jitter=0)  # (1, 9, 3, 5, 5)
    for cell in range(9):
        assert (grid[0, cell, 0] == cell // 3).all() and (grid[0, cell, 1] == cell % 3).all()
    for label, (d_row, d_col) in enumerate(NEIGHBOURS):
        neighbour = grid[0, NEIGHBOUR_CELLS[label]]
        assert (neighbour[0] == 1 + d_row).all() and (neighbour[1] == 1 + d_col).all()


def test_gaps_and_jitter_keep_patches_apart_and_inside_the_image():
    """Pixel value = its own (row, column): each patch's first pixel is where it was cut from."""
    size, patch, gap, jitter = 40, 8, 4, 2
    assert grid_extent(patch, gap, jitter) == 36
    rows = torch.arange(size).view(-1, 1).expand(size, size)
    cols = torch.arange(size).view(1, -1).expand(size, size)
    image = torch.stack([rows, cols, rows]).to(torch.uint8)[None].repeat(64, 1, 1, 1)  # (64, 3, 40, 40)
    torch.manual_seed(0)
    grid = patch_grid(image, patch, gap, jitter).long()  # (64, 9, 3, 8, 8)
    top, left = grid[:, :, 0, 0, 0].view(64, 3, 3), grid[:, :, 1, 0, 0].view(64, 3, 3)
    assert top.min() >= 0 and (top + patch).max() <= size and left.min() >= 0 and (left + patch).max() <= size
    step_down = top[:, 1:, :] - top[:, :-1, :]  # between vertically neighbouring cells
    step_right = left[:, :, 1:] - left[:, :, :-1]
    for step in (step_down, step_right):
        assert step.min() >= patch + gap - 2 * jitter and step.max() <= patch + gap + 2 * jitter
    assert step_down.unique().numel() > 1  # the jitter moves patches
    # inside a patch pixels are contiguous: it is a crop, not a resample
    assert (grid[:, :, 1, :, 1:] - grid[:, :, 1, :, :-1] == 1).all()


def test_a_grid_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match="needs 32 px"):
        patch_grid(torch.zeros(1, 3, 30, 30, dtype=torch.uint8), 8, 3, 1)


def test_projection_removes_the_green_magenta_axis_and_keeps_grey():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 5, 5)
    projected = project_out_green_magenta(x)
    a = torch.tensor([-1.0, 2.0, -1.0]).view(1, 3, 1, 1)
    assert torch.allclose((projected * a).sum(1), torch.zeros(4, 5, 5), atol=1e-6)
    grey = torch.full((1, 3, 2, 2), 0.7)
    assert torch.allclose(project_out_green_magenta(grey), grey)
    assert torch.allclose(project_out_green_magenta(projected), projected, atol=1e-6)  # a projection


def test_colour_dropping_keeps_one_channel_and_replaces_two_with_faint_noise():
    torch.manual_seed(0)
    x = torch.randn(32, 3, 6, 6) * 2
    out = drop_colours(x)
    kept = (out == x).flatten(2).all(2)  # (32, 3)
    assert (kept.sum(1) == 1).all()
    for image, original, keep in zip(out, x, kept, strict=True):
        dropped = image[~keep]  # (2, 6, 6)
        assert 0 < dropped.std() < original[keep].std() / 20


def test_guarded_patches_are_normalised_and_each_guard_does_its_part():
    torch.manual_seed(0)
    patches = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    plain = guarded_patches(patches, "none", mean, std)
    assert torch.allclose(plain, (patches.float() / 255 - 0.5) / 0.25)
    assert not torch.allclose(guarded_patches(patches, "jitter", mean, std), plain)
    projected = guarded_patches(patches, "project", mean, std) * 0.25 + 0.5  # back to [0, 1] units
    assert torch.allclose(
        (projected * torch.tensor([-1.0, 2.0, -1.0]).view(1, 3, 1, 1)).sum(1), torch.zeros(6, 8, 8), atol=1e-5
    )
    dropped = guarded_patches(patches, "drop", mean, std)
    assert ((dropped == plain).flatten(2).all(2).sum(1) == 1).all()
