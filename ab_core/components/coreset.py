"""Greedy k-center coreset selection on a seeded sparse random projection (PatchCore's bank reduction)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

PROJECTION_EPS = 0.9  # Johnson-Lindenstrauss distortion anomalib's KCenterGreedy uses for its projection


def johnson_lindenstrauss_dim(samples: int, eps: float = PROJECTION_EPS) -> int:
    """Components that keep pairwise distances of `samples` points within 1 +- eps (Dasgupta & Gupta 2003):
    4 ln(n) / (eps^2 / 2 - eps^3 / 3), truncated, as sklearn and anomalib compute it (at least 1)."""
    return max(1, int(4 * math.log(max(samples, 1)) / (eps**2 / 2 - eps**3 / 3)))


def sparse_random_projection(in_dim: int, out_dim: int, generator: torch.Generator) -> Tensor:
    """A (out_dim, in_dim) very sparse random matrix (Li, Hastie & Church 2006): each entry is
    +-sqrt(1 / density) / sqrt(out_dim) with probability density / 2 each, else 0; density = 1 / sqrt(in_dim).

    Each entry is kept independently, which is the distribution anomalib's row-by-row construction (a
    binomial count of non-zeros, then their places drawn without replacement) also gives.
    """
    density = 1 / math.sqrt(in_dim)
    keep = torch.rand(out_dim, in_dim, generator=generator) < density
    positive = torch.rand(out_dim, in_dim, generator=generator) < 0.5
    scale = math.sqrt(1 / density) / math.sqrt(out_dim)
    return torch.where(positive, scale, -scale) * keep  # (out_dim, in_dim)


@torch.no_grad()
def greedy_k_center(points: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """Indices (size,) of a greedy k-center cover of `points` (N, k), the first drawn at random.

    Each step adds the point farthest from its nearest chosen center, then lowers every point's
    distance to its nearest center (kept squared: |x|^2 - 2 x.c + |c|^2, one matrix-vector product per
    step). The random start is a center of the cover, as in anomalib's KCenterGreedy (2.x) and the
    paper's Algorithm 1.
    """
    count = points.shape[0]
    if not 1 <= size <= count:
        raise ValueError(f"a coreset of {size} points out of {count} is not possible; accepted: 1..{count}")
    squared = torch.linalg.vector_norm(points, dim=1).square_()  # (N,) |x|^2, no (N, k) temporary
    index = torch.randint(count, (1,), generator=generator).to(points.device)  # (1,), stays on the device
    chosen = torch.empty(size, dtype=torch.long, device=points.device)
    nearest = torch.full_like(squared, math.inf)  # (N,) squared distance to the nearest center
    distance = torch.empty_like(squared)  # (N,) reused: no allocation per step
    for step in range(size):
        chosen[step] = index[0]
        if step == size - 1:
            break
        center = points.index_select(0, index)[0]  # (k,)
        torch.addmv(squared, points, center, alpha=-2, out=distance).add_(squared.index_select(0, index))
        torch.minimum(nearest, distance, out=nearest)
        nearest.index_fill_(0, index, 0.0)  # rounding never lets a center be picked twice
        index = nearest.argmax().view(1)
    return chosen


@torch.no_grad()
def coreset_indices(chunks: Sequence[Tensor], ratio: float, seed: int, eps: float = PROJECTION_EPS) -> Tensor:
    """Indices into the rows of `chunks` (each (n_i, D), taken as concatenated) of PatchCore's coreset
    of int(N * ratio) patches (at least 1): the greedy cover of their seeded sparse random projection
    to johnson_lindenstrauss_dim(N) dimensions. The chunks are projected one at a time, never joined."""
    count = sum(chunk.shape[0] for chunk in chunks)
    if count == 0:
        raise ValueError("a coreset needs at least one point")
    size = max(1, int(count * ratio))
    if size >= count:
        return torch.arange(count, device=chunks[0].device)
    generator = torch.Generator().manual_seed(seed)
    dim = johnson_lindenstrauss_dim(count, eps)
    matrix = sparse_random_projection(chunks[0].shape[1], dim, generator).to(chunks[0])  # (k, D)
    projected = chunks[0].new_empty(count, dim)  # (N, k)
    offset = 0
    for chunk in chunks:
        torch.mm(chunk, matrix.T, out=projected[offset : offset + chunk.shape[0]])
        offset += chunk.shape[0]
    projected -= projected.mean(dim=0)  # distances are the same; smaller norms round less in the expansion
    return greedy_k_center(projected, size, generator)


def gather_rows(chunks: Sequence[Tensor], indices: Tensor) -> Tensor:
    """The rows `indices` of the concatenated `chunks`, in that order, without concatenating them."""
    out = chunks[0].new_empty(len(indices), chunks[0].shape[1])  # (M, D)
    offset = 0
    for chunk in chunks:
        inside = (indices >= offset) & (indices < offset + chunk.shape[0])
        out[inside] = chunk[indices[inside] - offset]
        offset += chunk.shape[0]
    return out
