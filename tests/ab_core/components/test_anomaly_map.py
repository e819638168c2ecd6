import numpy as np
import torch
from scipy import ndimage

from ab_core.components.anomaly_map import gaussian_blur, gaussian_kernel1d, image_scores, to_image_size


def test_gaussian_blur_matches_scipy_with_mirrored_borders():
    torch.manual_seed(0)
    maps = torch.rand(2, 1, 40, 36)
    blurred = gaussian_blur(maps, sigma=4.0)
    for i in range(2):
        source = maps[i, 0].double().numpy()
        expected = ndimage.gaussian_filter(source, sigma=4.0, mode="mirror", truncate=4.0)
        np.testing.assert_allclose(blurred[i, 0].numpy(), expected, atol=1e-5)


def test_gaussian_blur_keeps_a_constant_map_and_sigma_zero_is_identity():
    maps = torch.full((1, 1, 12, 12), 3.0)
    torch.testing.assert_close(gaussian_blur(maps, 4.0), maps)  # radius 16 > size: replicated borders
    noise = torch.rand(1, 1, 8, 8)
    assert gaussian_blur(noise, 0.0) is noise


def test_kernel_is_normalised_with_radius_four_sigma():
    kernel = gaussian_kernel1d(4.0)
    assert kernel.numel() == 33 and abs(float(kernel.sum()) - 1.0) < 1e-6


def test_to_image_size_upsamples_and_image_scores_take_the_max():
    patch = torch.zeros(2, 1, 4, 4)
    patch[1, 0, 1, 2] = 1.0
    maps = to_image_size(patch, (16, 16), sigma=1.0)
    assert maps.shape == (2, 1, 16, 16)
    scores = image_scores(maps)
    assert scores.shape == (2,) and scores[0] == 0 and scores[1] > 0


def test_symmetric_borders_match_scipy_gaussian_filter_default_even_past_the_map_size():
    from scipy.ndimage import gaussian_filter

    maps = torch.rand(2, 1, 24, 10)  # radius 16 at sigma 4: wider than the map along W
    for sigma in (1.0, 4.0):
        blurred = gaussian_blur(maps, sigma, border="symmetric")
        expected = np.stack([gaussian_filter(m[0].numpy().astype(np.float64), sigma) for m in maps])
        np.testing.assert_allclose(blurred[:, 0].numpy(), expected, atol=1e-5)
