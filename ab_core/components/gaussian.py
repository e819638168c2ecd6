"""Streaming per-position Gaussian statistics: mean and covariance without keeping any embedding.

Other PaDiM ports stack every training embedding into one (N, d, H*W) bank before calling
`torch.cov`, and run out of memory on large categories. Here each batch only adds to running sums,
so memory does not grow with the number of training images.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

CHUNK = 256  # most positions processed at a time
CHUNK_BYTES = 4 * 2**20  # and fewer when one (p, d, d) float64 temporary would be larger: each stays <= 4 MB


def positions_per_chunk(dim: int) -> int:
    """Positions per chunk for embeddings of `dim` channels (256 at d <= 64, 52 at d = 100, 1 at d = 550)."""
    return max(1, min(CHUNK, CHUNK_BYTES // (8 * dim * dim)))


class StreamingGaussian(nn.Module):
    """One multivariate Gaussian per patch position, fitted from batches (PaDiM, Defard et al. 2021).

    Sums are kept in float64 and shifted by the first batch's mean (the "shifted data" algorithm),
    so `sum of outer products - n * mean mean^T` does not cancel catastrophically. The sum of outer
    products is symmetric, so only its upper triangle is kept: (P, d(d+1)/2) instead of (P, d, d).
    """

    upper: Tensor
    symmetric: Tensor
    count: Tensor
    shift: Tensor
    sum: Tensor
    outer: Tensor

    def __init__(self, dim: int, positions: int):
        super().__init__()
        self.dim, self.positions = dim, positions
        rows, cols = torch.triu_indices(dim, dim)
        self.register_buffer("upper", rows * dim + cols, persistent=False)  # flat (d*d) index of (i <= j)
        slot = torch.empty(dim, dim, dtype=torch.long)
        slot[rows, cols] = slot[cols, rows] = torch.arange(len(rows))
        self.register_buffer("symmetric", slot.flatten(), persistent=False)  # (i, j) -> its triangle slot
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("shift", torch.zeros(positions, dim, dtype=torch.float64))  # (P, d)
        self.register_buffer("sum", torch.zeros(positions, dim, dtype=torch.float64))  # (P, d)
        triangle = torch.zeros(positions, len(self.upper), dtype=torch.float64)
        self.register_buffer("outer", triangle)  # (P, d(d+1)/2)

    @torch.no_grad()
    def update(self, embeddings: Tensor) -> None:
        """Add a batch of embeddings (B, d, P)."""
        batch, dim, positions = embeddings.shape
        if (dim, positions) != (self.dim, self.positions):
            raise ValueError(
                f"embeddings of shape (B, {dim}, {positions}) do not fit a Gaussian of "
                f"dim {self.dim} over {self.positions} positions"
            )
        first = bool(self.count == 0)
        chunk = positions_per_chunk(dim)
        for start in range(0, positions, chunk):
            part = slice(start, start + chunk)
            x = embeddings[:, :, part].permute(2, 0, 1).contiguous().to(torch.float64)  # (p, B, d)
            if first:
                self.shift[part] = x.mean(dim=1)
            x = x - self.shift[part].unsqueeze(1)
            self.sum[part] += x.sum(dim=1)
            outer = torch.bmm(x.transpose(1, 2), x).flatten(1)  # (p, d*d)
            self.outer[part] += outer[:, self.upper]
        self.count += batch

    def mean(self) -> Tensor:
        """(P, d) float64."""
        return self.shift + self.sum / self.count

    def covariance(self, positions: slice = slice(None)) -> Tensor:
        """(P, d, d) float64 (or a slice of positions), unbiased (divides by n - 1) like `torch.cov`."""
        n = self.count
        if n < 2:
            raise ValueError(f"a covariance needs at least 2 samples, got {int(n)}")
        outer = self.outer[positions][:, self.symmetric].view(-1, self.dim, self.dim)  # both triangles
        centred = self.sum[positions] / n  # mean of the shifted data, (p, d)
        return outer.sub_((centred.unsqueeze(2) * centred.unsqueeze(1)).mul_(n)).div_(n - 1)  # symmetric

    def whitening(self, eps: float, dtype: torch.dtype = torch.float32, chunk: int | None = None) -> Tensor:
        """(P, d, d) lower-triangular W = L^-1, where L L^T = covariance + eps I (Cholesky), so that
        |W (x - mean)|^2 is the squared Mahalanobis distance. W comes from a triangular solve of
        L W = I in float64, a chunk of positions at a time (no full-size float64 matrix is held)."""
        factor = torch.empty(self.positions, self.dim, self.dim, dtype=dtype, device=self.outer.device)
        identity = torch.eye(self.dim, dtype=torch.float64, device=self.outer.device)
        chunk = chunk or positions_per_chunk(self.dim)
        for start in range(0, self.positions, chunk):
            part = slice(start, start + chunk)
            covariance = self.covariance(part)
            covariance.diagonal(dim1=-2, dim2=-1).add_(eps)  # + eps I
            lower = torch.linalg.cholesky(covariance)  # (p, d, d)
            inverse = torch.linalg.solve_triangular(lower, identity.expand_as(lower), upper=False)
            factor[part] = inverse.to(dtype)
        return factor


def mahalanobis(embeddings: Tensor, mean: Tensor, whitening: Tensor) -> Tensor:
    """Embeddings (B, d, h, w), each position's mean (P, d) and `whitening` (P, d, d) -> the distance
    sqrt((x - mean)^T S^-1 (x - mean)) = |W (x - mean)| of each patch (B, 1, h, w); P = h * w."""
    batch, dim, height, width = embeddings.shape
    diff = embeddings.reshape(batch, dim, -1).permute(2, 1, 0) - mean.unsqueeze(2)  # (P, d, B)
    whitened = torch.bmm(whitening, diff.contiguous())  # (P, d, B)
    distance = whitened.square().sum(dim=1).sqrt()  # (P, B)
    return distance.transpose(0, 1).reshape(batch, 1, height, width)
