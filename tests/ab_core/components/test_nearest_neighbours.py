import importlib.util

import pytest
import torch

from ab_core.components.nearest_neighbours import NearestNeighbours


def test_torch_search_in_small_chunks_equals_brute_force():
    generator = torch.Generator().manual_seed(0)
    bank, queries = torch.randn(300, 16, generator=generator), torch.randn(97, 16, generator=generator)
    search = NearestNeighbours(bank, chunk_mb=0.01, backend="torch")  # 8 query rows per chunk
    assert search.chunk_rows == 8
    exact = torch.cdist(queries.double(), bank.double())
    for k in (1, 5):
        distances, indices = search.search(queries, k)
        expected, expected_indices = exact.topk(k, dim=1, largest=False)
        assert torch.equal(indices, expected_indices)
        torch.testing.assert_close(distances.double(), expected, rtol=1e-4, atol=1e-4)


def test_faiss_backend_agrees_with_torch_or_is_refused_by_name():
    bank = torch.randn(200, 8, generator=torch.Generator().manual_seed(1))
    queries = torch.randn(20, 8, generator=torch.Generator().manual_seed(2))
    if importlib.util.find_spec("faiss") is None:
        with pytest.raises(ValueError, match="faiss is not importable"):
            NearestNeighbours(bank, backend="faiss")
        assert NearestNeighbours(bank).backend == "torch"
        return
    fast, slow = NearestNeighbours(bank, backend="faiss"), NearestNeighbours(bank, backend="torch")
    assert fast.backend == "faiss"
    for got, expected in zip(fast.search(queries, 3), slow.search(queries, 3), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_k_above_the_bank_size_returns_the_whole_bank():
    search = NearestNeighbours(torch.randn(3, 4), backend="torch")
    distances, indices = search.search(torch.randn(2, 4), 9)
    assert distances.shape == (2, 3) and sorted(indices[0].tolist()) == [0, 1, 2]
