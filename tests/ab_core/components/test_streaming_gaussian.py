import pytest
import torch

from ab_core.components.gaussian import StreamingGaussian


def test_streaming_covariance_equals_the_batch_covariance():
    torch.manual_seed(0)
    positions, dim = 5, 7
    # far-off mean and correlated channels: where a naive sum-of-squares loses precision
    mixing = torch.randn(dim, dim)
    embeddings = 50.0 + torch.randn(37, positions, dim) @ mixing  # (N, P, d)
    embeddings = embeddings.permute(0, 2, 1).contiguous()  # (N, d, P)
    gaussian = StreamingGaussian(dim, positions)
    for chunk in embeddings.split([8, 1, 16, 12]):  # uneven batches, one of a single image
        gaussian.update(chunk)
    for p in range(positions):
        samples = embeddings[:, :, p].double()  # (N, d)
        torch.testing.assert_close(gaussian.covariance()[p], torch.cov(samples.T), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(gaussian.mean()[p], samples.mean(dim=0), atol=1e-5, rtol=1e-5)
    covariance = gaussian.covariance()
    assert torch.equal(covariance, covariance.transpose(1, 2))  # both triangles from the one kept
    torch.testing.assert_close(gaussian.covariance(slice(2, 4)), covariance[2:4], atol=0, rtol=0)


def test_streaming_gaussian_keeps_only_sums_whatever_the_number_of_images():
    gaussian = StreamingGaussian(dim=4, positions=3)
    sizes = {name: buffer.numel() for name, buffer in gaussian.named_buffers()}
    for _ in range(5):
        gaussian.update(torch.randn(16, 4, 3))
    assert {name: buffer.numel() for name, buffer in gaussian.named_buffers()} == sizes
    assert int(gaussian.count) == 80


def test_streaming_gaussian_refuses_embeddings_of_another_shape():
    gaussian = StreamingGaussian(dim=4, positions=3)
    with pytest.raises(ValueError, match="dim 4 over 3 positions"):
        gaussian.update(torch.randn(2, 5, 3))


def test_covariance_needs_two_samples():
    gaussian = StreamingGaussian(dim=2, positions=1)
    gaussian.update(torch.randn(1, 2, 1))
    with pytest.raises(ValueError, match="at least 2 samples"):
        gaussian.covariance()


def test_whitening_is_the_inverse_cholesky_factor_of_covariance_plus_eps():
    torch.manual_seed(0)
    gaussian = StreamingGaussian(dim=6, positions=5)
    gaussian.update(torch.randn(20, 6, 5) + 3.0)
    whitening = gaussian.whitening(eps=0.01, dtype=torch.float64, chunk=2)  # chunks 2, 2, 1
    expected = gaussian.covariance() + 0.01 * torch.eye(6, dtype=torch.float64)
    # W^T W = S^-1, so (x - mu)^T S^-1 (x - mu) = |W (x - mu)|^2
    torch.testing.assert_close(whitening.transpose(1, 2) @ whitening, torch.linalg.inv(expected))
    assert torch.equal(whitening, whitening.tril())
