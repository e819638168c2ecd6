"""Heads the pretrainers put on a backbone's pooled features."""

from __future__ import annotations

from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """SimCLR's projection head g(.) (Chen et al. 2020): Linear - BatchNorm - ReLU - Linear.

    "We use a MLP with one hidden layer to obtain z_i = g(h_i) = W(2) sigma(W(1) h_i)"; the hidden
    BatchNorm follows the paper's released code. The loss is computed on z, the backbone keeps h.
    """

    def __init__(self, in_dim: int = 512, hidden_dim: int = 512, out_dim: int = 128):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_dim, hidden_dim, bias=False),  # the BatchNorm that follows has its own bias
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)  # (B, in_dim) -> (B, out_dim)
