"""Synthetic defects: one non-empty region per image, pixels changed only where the defect is."""

from __future__ import annotations

import pytest
import torch

from ab_core.data.defects import blended_patch, cutpaste


def _textured(batch: int = 16, size: int = 32) -> torch.Tensor:
    """uint8 (B, 3, size, size): every pixel distinct, so any moved patch shows."""
    torch.manual_seed(0)
    return torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)


@pytest.mark.parametrize("make_defect", [cutpaste, blended_patch])
def test_each_image_gets_one_non_empty_binary_mask_and_uint8_output(make_defect) -> None:
    images = _textured()
    out, masks = make_defect(images)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert masks.shape == (16, 1, 32, 32) and masks.dtype == torch.uint8
    assert set(masks.unique().tolist()) <= {0, 1}
    assert (masks.flatten(1).sum(1) > 0).all()
    assert (masks.flatten(1).float().mean(1) < 0.5).all()  # a local defect, not the whole image


def test_cutpaste_changes_pixels_only_inside_its_rectangular_mask() -> None:
    images = _textured()
    out, masks = cutpaste(images)
    changed = (out != images).any(dim=1, keepdim=True)  # (B, 1, H, W)
    assert not (changed & (masks == 0)).any()
    assert (changed.flatten(1).float().sum(1) > 0.5 * masks.flatten(1).sum(1)).all()
    rows, cols = masks[:, 0].any(dim=2), masks[:, 0].any(dim=1)  # (B, H), (B, W)
    assert torch.equal(masks.flatten(1).sum(1), rows.sum(1) * cols.sum(1))  # a filled rectangle


def test_blended_patch_comes_from_another_image_and_leaves_the_far_background_alone() -> None:
    images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    images[1] = 250  # the only donor of image 0 is image 1, and the other way round
    out, masks = blended_patch(images)
    # the patch keeps half its own mean colour: image 1's bright patch lightens 0, and vice versa
    assert out[0][:, masks[0, 0].bool()].float().mean() > 100
    assert out[1][:, masks[1, 0].bool()].float().mean() < 190
    changed = (out != images).any(dim=1)  # (B, H, W)
    for image_changed, mask in zip(changed, masks[:, 0].bool(), strict=True):
        rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
        margin = int(0.25 * max(len(rows), len(cols))) + 1  # the feathered rim around the mask
        near = torch.zeros_like(mask)
        top, left = max(0, int(rows[0]) - margin), max(0, int(cols[0]) - margin)
        near[top : int(rows[-1]) + margin + 1, left : int(cols[-1]) + margin + 1] = True
        assert not (image_changed & ~near).any()


def test_blended_patch_edges_are_feathered() -> None:
    images = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    images[1] = 255  # black and white: each pastes from the other colour
    for seed in range(4):
        torch.manual_seed(seed)
        values = blended_patch(images)[0].float().mean(dim=1)  # (2, H, W); the patch core is near 127
        assert ((values[0] > 5) & (values[0] < 115)).any()  # a ramp between background and core
        assert ((values[1] > 140) & (values[1] < 250)).any()


def test_defects_use_the_global_torch_rng() -> None:
    images = _textured(4)
    torch.manual_seed(5)
    first = cutpaste(images)
    torch.manual_seed(5)
    second = cutpaste(images)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
