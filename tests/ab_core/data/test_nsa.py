"""NSA anomalies: median filters as scipy's, the logistic label in closed form, blends only inside a box."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F

from ab_core.data.nsa import _DISK5, _SQUARE5, logistic_label, median_filter, nsa_anomalies


@pytest.mark.parametrize("footprint", [_SQUARE5, _DISK5], ids=["square5", "disk5"])
def test_median_filter_equals_scipy_ndimage_with_nearest_edges(footprint):
    torch.manual_seed(0)
    x = torch.rand(3, 1, 14, 17, dtype=torch.float64)
    expected = [ndi.median_filter(a[0], footprint=footprint.numpy(), mode="nearest") for a in x.numpy()]
    assert np.allclose(median_filter(x, footprint)[:, 0].numpy(), np.stack(expected))


def test_disk5_is_skimage_disk_of_radius_5():
    assert _DISK5.shape == (11, 11) and int(_DISK5.sum()) == 81  # the lattice points with i^2 + j^2 <= 25
    assert _DISK5[5].all() and _DISK5[:, 5].all() and not _DISK5[0, 0] and not _DISK5[1, 1]


def test_logistic_label_of_a_uniform_change_is_the_scaled_sigmoid_inside_the_box():
    dest = torch.full((1, 3, 32, 32), 100, dtype=torch.uint8)
    blended = dest.clone()
    blended[:, :, 8:24, 10:26] = 130  # a change of 30 in every channel over a 16 x 16 square
    box = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    box[:, :, 6:26, 8:28] = True
    k, x0 = 1 / 6, 20.0
    label = logistic_label(dest, blended, box, k, x0)
    expected = 1 / (1 + np.exp(-k * (30 - x0)))  # 0.8411
    inner = label[0, 0, 11:21, 13:23]  # the median's 5-px reach never leaves the square here
    assert torch.allclose(inner, torch.full_like(inner, expected), atol=1e-6)
    assert (label[0, 0, :8] == 0).all() and (label[0, 0, :, :10] == 0).all()  # nothing changed: 0
    assert label.max() <= expected + 1e-6


def test_a_change_of_at_most_tol_is_never_labelled():
    dest = torch.full((1, 3, 16, 16), 50, dtype=torch.uint8)
    blended = dest + 1
    box = torch.ones(1, 1, 16, 16, dtype=torch.bool)
    assert (logistic_label(dest, blended, box, 1 / 6, 20.0, tol=1.0) == 0).all()


def _smooth_images(batch: int = 8, size: int = 48) -> torch.Tensor:
    torch.manual_seed(0)
    x = F.avg_pool2d(torch.rand(batch, 3, size, size), 5, 1, 2) * 255
    x[::2] *= 0.4  # dark and bright images: blends between them change the intensity
    return x.round().to(torch.uint8)


def test_nsa_changes_each_image_only_inside_one_box_and_labels_lie_in_0_1():
    images = _smooth_images()
    torch.manual_seed(1)
    out, label = nsa_anomalies(images)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert label.shape == (8, 1, 48, 48) and label.dtype == torch.float32
    assert label.min() >= 0 and label.max() <= 1
    changed = (out != images).any(dim=1)  # (B, H, W)
    for image_changed, image_label in zip(changed, label[:, 0] > 0, strict=True):
        if not image_changed.any():
            continue
        rows = torch.nonzero(image_changed.any(1)).flatten()
        cols = torch.nonzero(image_changed.any(0)).flatten()
        assert rows[0] >= 2 and cols[0] >= 2 and rows[-1] <= 45 and cols[-1] <= 45  # box margin + rims
        box = torch.zeros_like(image_changed)
        box[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = True
        assert not (image_label & ~box).any()  # labels only where the blend is
    assert changed.flatten(1).any(1).float().mean() >= 0.5  # most images got a visible anomaly


def test_nsa_patches_come_from_another_image_of_the_batch():
    images = torch.zeros(2, 3, 48, 48, dtype=torch.uint8)
    images[1] = 200
    yy, xx = torch.meshgrid(torch.arange(48), torch.arange(48), indexing="ij")
    images[1, 0] = (100 + 80 * ((xx // 2 + yy // 2) % 2)).to(torch.uint8)  # a texture to import in red
    torch.manual_seed(0)
    out, _ = nsa_anomalies(images, erosion=0)
    assert (out[0, 0] != images[0, 0]).any()  # flat image 0 took image 1's texture
    assert torch.equal(out[0, 1:], images[0, 1:])  # channels with no gradient in the donor stay flat


def test_further_patches_widen_the_blended_area_and_stay_in_their_boxes():
    images = _smooth_images()
    torch.manual_seed(2)
    one, _ = nsa_anomalies(images, patches=1, erosion=0)
    torch.manual_seed(2)
    four, label = nsa_anomalies(images, patches=4, erosion=0)
    assert not torch.equal(one, four)  # further patches were drawn
    changed_one = (one != images).any(1).flatten(1).sum(1)
    changed_four = (four != images).any(1).flatten(1).sum(1)
    assert changed_four.sum() > changed_one.sum()
    assert label.min() >= 0 and label.max() <= 1
