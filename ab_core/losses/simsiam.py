"""SimSiam's symmetric negative cosine with stop-gradient on the target branch."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """D(p, z) = -(p / ||p||) . (z / ||z||) per row, averaged; z is a target: no gradient flows into it.
    (N, d), (N, d) -> () float32."""
    return -F.cosine_similarity(p.float(), z.detach().float(), dim=1).mean()


class SimSiamLoss(nn.Module):
    """Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021, Eq. (4):

        "L = 1/2 D(p1, stopgrad(z2)) + 1/2 D(p2, stopgrad(z1))"

    with D the negative cosine similarity. It lies in [-1, 1]; -1 when each prediction points along the
    other view's projection.
    """

    def forward(self, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
        """Predictions p and projections z of views 1 and 2: (N, d) each."""
        if not p1.shape == p2.shape == z1.shape == z2.shape or p1.dim() != 2:
            raise ValueError(
                f"expected four (N, d) tensors of one shape, got {[tuple(t.shape) for t in (p1, p2, z1, z2)]}"
            )
        return 0.5 * negative_cosine(p1, z2) + 0.5 * negative_cosine(p2, z1)
