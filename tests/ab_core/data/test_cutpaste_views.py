"""CutPaste's views: the paper's patch and scar geometry, pasted wholly inside the image, jittered."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision.transforms.functional as TF

from ab_core.data.cutpaste_views import colour_patch, cutpaste_patch, cutpaste_scar, jitter_patch, scar_extent


def _coordinates(batch: int, size: int) -> torch.Tensor:
    """uint8 (B, 3, size, size): red = row, green = column, blue = 0; every pixel says where it is."""
    rows = torch.arange(size).view(-1, 1).expand(size, size)
    cols = torch.arange(size).view(1, -1).expand(size, size)
    return torch.stack([rows, cols, torch.zeros_like(rows)]).to(torch.uint8)[None].repeat(batch, 1, 1, 1)


def test_patch_area_and_aspect_stay_within_the_papers_bounds():
    torch.manual_seed(0)
    size = 64
    _, masks = cutpaste_patch(_coordinates(256, size), jitter=0.0)
    mask = masks[:, 0].bool()  # (B, H, W)
    rows, cols = mask.any(2).sum(1).float(), mask.any(1).sum(1).float()  # (B,) box sides
    assert torch.equal(mask.flatten(1).sum(1).float(), rows * cols)  # each one filled rectangle
    fractions, aspects = rows * cols / size**2, rows / cols
    # area ratio in [0.02, 0.15], aspect in [0.3, 1 / 0.3]; sides >= 5 px, so rounding moves each <~ 10%
    assert 0.02 * 0.8 <= fractions.min() < 0.03 and 0.13 < fractions.max() <= 0.15 * 1.2
    assert 0.3 * 0.9 <= aspects.min() < 0.4 and 2.6 < aspects.max() <= 1 / 0.3 * 1.1
    assert (aspects < 1).sum() > 75 and (aspects > 1).sum() > 75  # both (0.3, 1) and (1, 3.3)


def test_the_patch_is_a_copy_of_another_place_of_the_same_image():
    torch.manual_seed(1)
    images = _coordinates(32, 64)
    out, masks = cutpaste_patch(images, jitter=0.0)  # no colour change: pure copy
    changed = (out != images).any(1)
    assert not (changed & (masks[:, 0] == 0)).any()
    for image, mask in zip(out, masks[:, 0].bool(), strict=True):
        where = torch.nonzero(mask)  # (n, 2) destination pixels
        # a translation: every pasted pixel moved by one offset (the pixel values say where from)
        assert (image[0][mask].long() - where[:, 0]).unique().numel() == 1
        assert (image[1][mask].long() - where[:, 1]).unique().numel() == 1


def test_scars_have_the_papers_sizes_and_lie_inside_the_image():
    torch.manual_seed(2)
    size = 32  # the default scar, up to 16 x 25 turned 45 degrees, spans 29 px
    images = _coordinates(256, size)
    out, masks = cutpaste_scar(images, jitter=0.0)
    changed = (out != images).any(1)
    assert not (changed & (masks[:, 0] == 0)).any()
    areas = masks.flatten(1).sum(1).float()  # (B,) width 2-16 x length 10-25: areas 20..400
    assert areas.min() >= 12 and areas.max() <= 16 * 25 + 2 * (16 + 25)
    assert areas.min() < 60 and areas.max() > 250
    # every pasted pixel came from inside the image (pixel values are their source coordinates)
    assert (out[:, 0] < size).all() and (out[:, 1] < size).all()


def test_a_long_thin_scar_is_turned_within_the_rotation_range():
    torch.manual_seed(3)
    _, masks = cutpaste_scar(_coordinates(48, 48), width=(2.0, 3.0), length=(22.0, 25.0), jitter=0.0)
    points = torch.stack(torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij"), -1)
    angles = []
    for mask in masks[:, 0].bool():
        centred = points[mask] - points[mask].mean(0)  # (n, 2) row, column
        _, vectors = torch.linalg.eigh(centred.T @ centred)
        long_axis = vectors[:, -1]  # the pixel cloud's long axis: its angle from upright is the turn
        angles.append(math.degrees(math.atan2(long_axis[1].item(), long_axis[0].item())) % 180)
    turns = torch.tensor([a if a <= 90 else a - 180 for a in angles])  # in (-90, 90]
    assert turns.abs().max() <= 45 + 5  # +-45 degrees, pixel rounding allowed
    assert turns.min() < -25 and turns.max() > 25  # both ways


def test_the_scar_content_is_cut_upright_from_the_same_image():
    torch.manual_seed(3)
    images = _coordinates(16, 48)
    out, masks = cutpaste_scar(images, rotation=0.0, jitter=0.0)  # no turn: a translated rectangle
    for image, mask in zip(out, masks[:, 0].bool(), strict=True):
        where = torch.nonzero(mask)
        assert (image[0][mask].long() - where[:, 0]).unique().numel() == 1
        assert (image[1][mask].long() - where[:, 1]).unique().numel() == 1


def test_scar_extent_is_the_turned_bounding_box():
    assert scar_extent(16, 25, 0) == 25
    assert scar_extent(16, 25, 45) == pytest.approx((16 + 25) / math.sqrt(2))
    assert scar_extent(2, 10, 90) == pytest.approx(math.hypot(2, 10))  # the diagonal at its critical angle
    with pytest.raises(ValueError, match="spans 29.0 px"):
        cutpaste_scar(torch.zeros(1, 3, 28, 28, dtype=torch.uint8))


def test_patch_jitter_stays_within_its_range_and_changes_only_the_patch():
    torch.manual_seed(4)
    images = torch.full((64, 3, 16, 16), 128, dtype=torch.uint8)
    images[:, 0] = 160  # a coloured image: saturation and hue have something to change
    inside = torch.zeros(64, 1, 16, 16, dtype=torch.bool)
    inside[:, :, 4:10, 4:10] = True
    out = jitter_patch(images, images, inside, 0.1)
    patch_red = out[:, 0, 6, 6].float()
    assert (patch_red / 160).min() > 0.7 and (patch_red / 160).max() < 1.3
    assert patch_red.unique().numel() > 10  # a random factor per image
    assert torch.equal(jitter_patch(images, images, inside, 0.0), images)  # amount 0: identity


def test_patch_colour_equals_torchvisions_adjustments_on_the_cut_patch_alone():
    """Brightness, contrast (pivot: the patch's mean grey), saturation as torchvision applies them to
    the cut patch; factors small enough that torchvision's intermediate clamps never bite."""
    torch.manual_seed(5)
    images = (torch.rand(2, 3, 16, 16) * 120 + 60).round().to(torch.uint8)
    inside = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    inside[:, :, 3:9, 5:13] = True
    brightness, contrast = torch.tensor([1.08, 0.93]), torch.tensor([0.9, 1.1])
    saturation = torch.tensor([1.1, 0.9])
    out = colour_patch(images, inside, brightness, contrast, saturation, torch.zeros(2))
    for b in range(2):
        patch = images[b, :, 3:9, 5:13].float() / 255
        expected = TF.adjust_saturation(
            TF.adjust_contrast(TF.adjust_brightness(patch, brightness[b].item()), contrast[b].item()),
            saturation[b].item(),
        )
        assert (out[b, :, 3:9, 5:13].float() - expected * 255).abs().max() <= 0.51  # rounding only
