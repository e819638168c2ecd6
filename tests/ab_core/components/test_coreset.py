import math

import pytest
import torch
from sklearn.random_projection import johnson_lindenstrauss_min_dim

from ab_core.components.coreset import (
    coreset_indices,
    gather_rows,
    greedy_k_center,
    johnson_lindenstrauss_dim,
    sparse_random_projection,
)


def slow_k_center(points: torch.Tensor, size: int, start: int) -> list[int]:
    """The paper's Algorithm 1 written out: add the point farthest from its nearest chosen center."""
    chosen = [start]
    while len(chosen) < size:
        far = [min(float(torch.dist(p, points[c])) for c in chosen) for p in points]
        chosen.append(max(range(len(points)), key=far.__getitem__))
    return chosen


def test_greedy_k_center_equals_the_slow_reference_from_the_same_seeded_start():
    points = torch.randn(80, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    start = int(torch.randint(80, (1,), generator=torch.Generator().manual_seed(7)))
    got = greedy_k_center(points, 15, torch.Generator().manual_seed(7))
    assert got.tolist() == slow_k_center(points, 15, start)


def test_greedy_k_center_picks_one_point_of_each_planted_cluster_first():
    centers = torch.tensor([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])
    points = centers.repeat_interleave(10, 0) + torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    chosen = greedy_k_center(points, 4, torch.Generator().manual_seed(0))
    assert sorted((chosen // 10).tolist()) == [0, 1, 2, 3]


def test_johnson_lindenstrauss_dim_is_sklearns():
    for samples in (10, 1000, 123_456):
        assert johnson_lindenstrauss_dim(samples) == int(johnson_lindenstrauss_min_dim(samples, eps=0.9))


def test_sparse_random_projection_has_li_hastie_church_entries_and_is_seeded():
    matrix = sparse_random_projection(400, 300, torch.Generator().manual_seed(0))
    scale = math.sqrt(math.sqrt(400)) / math.sqrt(300)  # sqrt(1 / density) / sqrt(k), density = 1/20
    assert matrix.unique().tolist() == pytest.approx([-scale, 0.0, scale])
    assert abs((matrix != 0).float().mean().item() - 1 / 20) < 0.005
    assert torch.equal(matrix, sparse_random_projection(400, 300, torch.Generator().manual_seed(0)))
    x = torch.randn(2, 400, generator=torch.Generator().manual_seed(1))  # distances kept, roughly
    ratio = torch.dist(x[0] @ matrix.T, x[1] @ matrix.T) / torch.dist(x[0], x[1])
    assert 0.8 < ratio < 1.2


def test_coreset_of_chunks_is_the_greedy_cover_of_their_joined_projection():
    chunks = [torch.randn(n, 24, generator=torch.Generator().manual_seed(n)) for n in (30, 50, 20)]
    chosen = coreset_indices(chunks, 0.1, seed=3)
    joined = torch.cat(chunks)
    generator = torch.Generator().manual_seed(3)
    projection = sparse_random_projection(24, johnson_lindenstrauss_dim(100), generator)
    projected = joined @ projection.T
    expected = greedy_k_center(projected - projected.mean(dim=0), 10, generator)
    assert torch.equal(chosen, expected) and len(set(chosen.tolist())) == 10
    torch.testing.assert_close(gather_rows(chunks, chosen), joined[chosen])
    assert torch.equal(coreset_indices(chunks, 1.0, seed=3), torch.arange(100))
