"""SmoothBlend: a small soft-edged patch; its alpha is the box blurred by a Gaussian, checked numerically."""

from __future__ import annotations

import math

import pytest
import torch

from ab_core.data.smooth_blend import blurred_box, smooth_blend


def test_the_blurred_box_is_the_box_convolved_with_a_gaussian():
    start, length, sigma, size = 5.3, 4.6, 1.7, 20
    step = 0.001  # the convolution as a Riemann sum over the box
    samples = [start + step * (k + 0.5) for k in range(int(round(length / step)))]
    expected = [
        sum(math.exp(-((t + 0.5 - s) ** 2) / (2 * sigma**2)) for s in samples)
        * step / (sigma * math.sqrt(2 * math.pi))
        for t in range(size)
    ]
    got = blurred_box(size, torch.tensor([start]), torch.tensor([length]), torch.tensor([sigma]))[0]
    assert got.tolist() == pytest.approx(expected, abs=1e-4)


def test_smooth_blend_changes_a_small_soft_region_and_keeps_the_rest():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 64, 64)
    out, alpha = smooth_blend(x, area=(0.005, 0.02))
    assert out.shape == x.shape and alpha.shape == (16, 1, 64, 64)
    assert (alpha >= 0).all() and (alpha <= 1).all()
    assert ((out >= 0) & (out <= 1)).all()
    mass = alpha.sum(dim=(1, 2, 3)) / (64 * 64)  # the blurred box keeps the box's area
    assert (mass > 0.003).all() and (mass < 0.025).all()
    assert ((alpha > 0.01) & (alpha < 0.99)).any()  # soft edges, not a hard paste
    far = alpha < 1e-6
    assert torch.allclose(out.expand_as(x)[far.expand_as(x)], x[far.expand_as(x)], atol=1e-6)
    assert ((out - x).abs().amax(dim=(1, 2, 3)) > 0.01).all()  # every image perturbed
