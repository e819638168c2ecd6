import math

import pytest
import torch

from ab_core.losses.ssim import ReconstructionLoss, gaussian_window, ssim_map


def slow_ssim(x: torch.Tensor, y: torch.Tensor, size: int = 11, sigma: float = 1.5, data_range: float = 1.0):
    """Wang et al.'s SSIM pixel by pixel: Gaussian-weighted local statistics over a zero-padded window."""
    centre = size // 2
    weights = [[math.exp(-((i - centre) ** 2 + (j - centre) ** 2) / (2 * sigma**2)) for j in range(size)]
               for i in range(size)]
    total = sum(map(sum, weights))
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    batch, channels, height, width = x.shape
    out = torch.zeros(batch, channels, height, width, dtype=torch.float64)
    for b in range(batch):
        for c in range(channels):
            for r in range(height):
                for q in range(width):
                    sx = sy = sxx = syy = sxy = 0.0
                    for i in range(size):
                        for j in range(size):
                            rr, qq = r + i - centre, q + j - centre
                            if 0 <= rr < height and 0 <= qq < width:  # zero padding outside
                                w = weights[i][j] / total
                                a, v = float(x[b, c, rr, qq]), float(y[b, c, rr, qq])
                                sx, sy = sx + w * a, sy + w * v
                                sxx, syy, sxy = sxx + w * a * a, syy + w * v * v, sxy + w * a * v
                    var_x, var_y, cov = sxx - sx * sx, syy - sy * sy, sxy - sx * sy
                    out[b, c, r, q] = ((2 * sx * sy + c1) * (2 * cov + c2)) / (
                        (sx * sx + sy * sy + c1) * (var_x + var_y + c2))
    return out


def test_ssim_map_matches_a_pixel_by_pixel_reference():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 2, 9, 13, generator=generator, dtype=torch.float64)
    y = (x + 0.2 * torch.randn(x.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    ours = ssim_map(x, y)
    assert ours.shape == x.shape
    torch.testing.assert_close(ours, slow_ssim(x, y), atol=1e-10, rtol=0)


def test_ssim_of_an_image_with_itself_is_one_and_falls_with_noise():
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    assert float(ssim_map(x, x).min()) == pytest.approx(1.0, abs=1e-5)
    noisy = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    assert float(ssim_map(x, noisy).mean()) < 0.8


def test_ssim_of_two_flat_images_is_the_luminance_term_away_from_the_border():
    # constant a and b: no variance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1) wherever the window is inside
    a, b = 0.2, 0.7
    out = ssim_map(torch.full((1, 1, 21, 21), a, dtype=torch.float64), torch.full((1, 1, 21, 21), b,
                                                                                   dtype=torch.float64))
    c1 = 0.01**2
    interior = out[..., 5:-5, 5:-5]
    torch.testing.assert_close(interior, torch.full_like(interior, (2 * a * b + c1) / (a * a + b * b + c1)))


def test_gaussian_window_sums_to_one_and_peaks_at_its_centre():
    window = gaussian_window(11, 1.5)
    assert float(window.sum()) == pytest.approx(1.0, abs=1e-6)
    assert window.argmax().item() == 5 * 11 + 5


def test_reconstruction_loss_is_l2_plus_weighted_one_minus_ssim():
    generator = torch.Generator().manual_seed(3)
    target = torch.rand(2, 3, 16, 16, generator=generator)
    restored = (target + 0.1 * torch.randn(target.shape, generator=generator)).clamp(0, 1)
    loss = ReconstructionLoss(ssim_weight=2.0)(restored, target)
    l2 = ((restored - target) ** 2).mean()
    expected = l2 + 2.0 * (1 - ssim_map(restored, target).mean())
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    assert ReconstructionLoss()(target, target).item() == pytest.approx(0.0, abs=1e-5)


def test_reconstruction_loss_stays_float32_under_bf16_autocast():
    generator = torch.Generator().manual_seed(4)
    target = torch.rand(2, 3, 16, 16, generator=generator)
    restored = (target + 0.05 * torch.randn(target.shape, generator=generator)).clamp(0, 1)
    exact = ReconstructionLoss()(restored, target)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the training loop's autocast (CUDA there)
        under_autocast = ReconstructionLoss()(restored.bfloat16(), target)
    assert under_autocast.dtype == torch.float32
    float32_of_the_same_input = ReconstructionLoss()(restored.bfloat16().float(), target)
    assert float(under_autocast) == pytest.approx(float(float32_of_the_same_input), rel=1e-6)
    assert float(under_autocast) == pytest.approx(float(exact), rel=1e-2)
