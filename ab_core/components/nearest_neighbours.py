"""Exact Euclidean k-nearest-neighbour search over a fixed bank, in chunks so memory stays bounded.

faiss (`IndexFlatL2`, exact) does the search when it is importable and the bank is on the CPU; torch
otherwise, a chunk of queries at a time, so no (queries x bank) distance matrix larger than
`chunk_mb` is ever held.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import torch
from torch import Tensor

CHUNK_MB = 8.0  # default size of one chunk's (queries x bank) distance block


def _faiss() -> ModuleType | None:
    try:
        return importlib.import_module("faiss")
    except ImportError:
        return None


class NearestNeighbours:
    """k nearest rows of `bank` (M, D) for each query row, by Euclidean distance.

    `backend`: "auto" (faiss when importable and the bank is on the CPU, else torch), "faiss" or "torch".
    """

    def __init__(self, bank: Tensor, chunk_mb: float = CHUNK_MB, backend: str = "auto"):
        if bank.ndim != 2 or bank.shape[0] == 0:
            raise ValueError(f"a nearest-neighbour bank must be (M, D) with M >= 1; got {tuple(bank.shape)}")
        faiss = _faiss() if backend in ("auto", "faiss") else None
        if backend == "faiss" and faiss is None:
            raise ValueError("backend 'faiss' asked for, but faiss is not importable; accepted: auto, torch")
        if backend not in ("auto", "faiss", "torch"):
            raise ValueError(f"unknown backend {backend!r}; accepted: auto, faiss, torch")
        self.bank = bank.float().contiguous()  # (M, D)
        self.chunk_rows = max(1, int(chunk_mb * 2**20 // (4 * bank.shape[0])))
        self.index = None
        if faiss is not None and bank.device.type == "cpu":
            self.index = faiss.IndexFlatL2(bank.shape[1])
            self.index.add(self.bank.numpy())
        self.backend = "faiss" if self.index is not None else "torch"
        self.squared = self.bank.square().sum(dim=1)  # (M,) |b|^2

    @torch.no_grad()
    def search(self, queries: Tensor, k: int = 1) -> tuple[Tensor, Tensor]:
        """Queries (Q, D) -> (distances (Q, k) ascending, bank indices (Q, k) int64)."""
        k = min(k, self.bank.shape[0])
        queries = queries.float().contiguous()
        if self.index is not None:
            squared, indices = self.index.search(queries.cpu().numpy(), k)
            distances = torch.from_numpy(squared).clamp_min_(0).sqrt_().to(queries.device)
            return distances, torch.from_numpy(indices).to(queries.device)
        parts = [self._search_chunk(chunk, k) for chunk in queries.split(self.chunk_rows)]
        return torch.cat([d for d, _ in parts]), torch.cat([i for _, i in parts])

    def _search_chunk(self, queries: Tensor, k: int) -> tuple[Tensor, Tensor]:
        # |q - b|^2 = |q|^2 - 2 q.b + |b|^2, one (q, M) block
        squared = torch.addmm(self.squared.unsqueeze(0), queries, self.bank.T, alpha=-2)
        squared.add_(queries.square().sum(dim=1, keepdim=True))
        if k == 1:
            best, indices = squared.min(dim=1, keepdim=True)
        else:
            best, indices = squared.topk(k, dim=1, largest=False)
        return best.clamp_min_(0).sqrt_(), indices
