"""A first-in-first-out queue of momentum features (MoCo's dictionary), kept as buffers so it checkpoints."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FeatureQueue(nn.Module):
    """`size` feature vectors of width `dim`, starting as random unit vectors (as MoCo and PsCo start);
    `push` overwrites the oldest rows with a batch, wrapping around the end."""

    features: Tensor
    pointer: Tensor

    def __init__(self, size: int, dim: int):
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"need size >= 1 and dim >= 1, got {size}, {dim}")
        self.register_buffer("features", F.normalize(torch.randn(size, dim), dim=1))  # (size, dim)
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def push(self, batch: Tensor) -> None:
        """Enqueue (N, dim) rows, N <= size, in place of the N oldest."""
        size = self.features.shape[0]
        if batch.dim() != 2 or batch.shape[0] > size or batch.shape[1] != self.features.shape[1]:
            width = self.features.shape[1]
            raise ValueError(f"expected (N <= {size}, {width}) rows, got {tuple(batch.shape)}")
        rows = (self.pointer + torch.arange(batch.shape[0], device=batch.device)) % size  # (N,)
        self.features[rows] = batch.detach().to(self.features.dtype)
        self.pointer.fill_(int((self.pointer + batch.shape[0]) % size))
