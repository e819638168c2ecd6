"""Batched SimCLR views: shapes, normalisation, per-sample randomness, and layout kept when aligned."""

from __future__ import annotations

import torch

from ab_core.data.augment import (
    apply_colour,
    colour_affine,
    colour_jitter,
    normalize,
    random_gaussian_blur,
    simclr_views,
)

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _left_bright(batch: int = 16, size: int = 32) -> torch.Tensor:
    """uint8 (B, 3, size, size): a white left third, dark grey elsewhere (greyscale changes nothing)."""
    images = torch.full((batch, 3, size, size), 40, dtype=torch.uint8)
    images[..., : size // 3] = 220
    return images


def test_normalize_maps_uint8_to_standardised_float() -> None:
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 2, 2)
    out = normalize(images, MEAN, STD)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 2, 2)
    assert torch.allclose(out[0, :, 0, 0], -torch.tensor(MEAN) / torch.tensor(STD))
    assert torch.allclose(out[1, :, 0, 0], (1 - torch.tensor(MEAN)) / torch.tensor(STD))


def test_views_are_two_float_batches_of_the_input_shape_that_differ() -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    view0, view1 = simclr_views(images, MEAN, STD)
    assert view0.shape == view1.shape == (8, 3, 32, 32)
    assert view0.dtype == view1.dtype == torch.float32
    assert torch.isfinite(view0).all() and not torch.allclose(view0, view1)


def test_aligned_views_keep_the_spatial_layout() -> None:
    torch.manual_seed(0)
    for view in simclr_views(_left_bright(), MEAN, STD, aligned=True, strength=0.0):
        # blur only: the edge stays at column 10 in every image (no crop, no flip)
        assert (view[..., :7].amin(dim=(1, 2, 3)) > view[..., 14:].amax(dim=(1, 2, 3))).all()
    for view in simclr_views(_left_bright(), MEAN, STD, aligned=True):
        left, right = view[..., :8].mean(dim=(2, 3)), view[..., 14:].mean(dim=(2, 3))  # (B, 3)
        assert (left > right).all()  # jitter changes colours, never the layout


def test_unaligned_views_crop_and_flip_some_images() -> None:
    torch.manual_seed(0)
    view0, view1 = simclr_views(_left_bright(), MEAN, STD, strength=0.0)
    views = torch.cat([view0, view1])
    left, right = views[..., :8].mean(dim=(1, 2, 3)), views[..., -8:].mean(dim=(1, 2, 3))
    assert (right > left).any()  # flipped
    edge_column = (views[:, 0] > 0).float().sum(dim=2).mean(dim=1)  # bright columns per image
    assert edge_column.std() > 1  # crops move the edge


def test_colour_jitter_varies_per_image_and_is_identity_when_never_applied() -> None:
    torch.manual_seed(0)
    images = torch.rand(32, 3, 8, 8)
    assert torch.allclose(colour_jitter(images, p=0.0), images, atol=1e-5)
    constant = torch.full((32, 3, 8, 8), 0.5)
    constant[:, 0] = 0.7  # a colour, so saturation and hue act too
    jittered = colour_jitter(constant, strength=1.0, p=1.0)
    assert jittered.mean(dim=(2, 3)).std(dim=0).min() > 0.01


def test_blur_keeps_a_constant_image_and_smooths_an_edge() -> None:
    constant = torch.full((4, 3, 32, 32), 0.3)
    assert torch.allclose(random_gaussian_blur(constant, p=1.0), constant, atol=1e-6)
    torch.manual_seed(1)
    edge = _left_bright(4).float() / 255
    blurred = random_gaussian_blur(edge, p=1.0, sigma=(1.5, 2.0))
    assert (blurred[..., 9] < edge[..., 9]).all() and (blurred[..., 10] > edge[..., 10]).all()


def test_composed_jitter_matches_torchvisions_steps_where_nothing_clips() -> None:
    from torchvision.transforms import functional as TF

    torch.manual_seed(2)
    images = torch.rand(3, 3, 8, 8) * 0.2 + 0.4  # mid-range: no step clips
    brightness, contrast = torch.tensor([1.1, 0.8, 1.0]), torch.tensor([0.9, 1.2, 1.0])
    saturation = torch.tensor([1.3, 0.7, 0.0])
    out = apply_colour(images, *colour_affine(images, brightness, contrast, saturation, torch.zeros(3)))
    for i in range(3):
        expected = TF.adjust_brightness(images[i], float(brightness[i]))
        expected = TF.adjust_contrast(expected, float(contrast[i]))
        expected = TF.adjust_saturation(expected, float(saturation[i]))
        assert torch.allclose(out[i], expected, atol=1e-4)


def test_hue_shift_rotates_colour_and_leaves_grey_alone() -> None:
    grey_and_red = torch.tensor([[0.5, 0.5, 0.5], [0.8, 0.2, 0.2]]).view(2, 3, 1, 1)
    ones, hue = torch.ones(2), torch.full((2,), 0.25)
    out = apply_colour(grey_and_red, *colour_affine(grey_and_red, ones, ones, ones, hue))
    assert torch.allclose(out[0], grey_and_red[0], atol=1e-4)
    assert (out[1] - grey_and_red[1]).abs().max() > 0.2
