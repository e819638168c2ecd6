"""NT-Xent, SimCLR's normalised temperature-scaled cross-entropy over a batch of view pairs."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _identity(embeddings: Tensor) -> Tensor:
    return embeddings


class NTXentLoss(nn.Module):
    """The contrastive loss of SimCLR (Chen et al., "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020):

        "We randomly sample a minibatch of N examples and define the contrastive prediction task on pairs
        of augmented examples derived from the minibatch, resulting in 2N data points. We do not sample
        negative examples explicitly. Instead, given a positive pair, [...] we treat the other 2(N - 1)
        augmented examples within a minibatch as negative examples."

    Similarity is the cosine, divided by `temperature`; the loss is the cross-entropy of picking the
    positive among the 2N - 1 others, averaged over all 2N anchors.

    Across workers: `gather` maps this worker's (N, D) normalised embeddings to every worker's (W * N, D)
    (e.g. a differentiable all-gather) and `rank` says where this worker's rows sit in it. The anchors
    stay local; positives and negatives come from the gathered set. The defaults are one worker.
    """

    def __init__(
        self,
        temperature: float = 0.5,
        gather: Callable[[Tensor], Tensor] | None = None,
        rank: int = 0,
    ):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if rank < 0:
            raise ValueError(f"rank must be >= 0, got {rank}")
        self.temperature = temperature
        self.gather = gather or _identity
        self.rank = rank

    def forward(self, view0: Tensor, view1: Tensor) -> Tensor:
        """`view0[i]` and `view1[i]` are the projections of two views of image i: (N, D) each."""
        if view0.shape != view1.shape or view0.dim() != 2:
            raise ValueError(f"expected two (N, D) tensors of one shape, got {view0.shape} and {view1.shape}")
        n = view0.shape[0]
        # float32 even under bf16 autocast: small temperatures magnify rounding
        z0 = F.normalize(view0.float(), dim=1)
        z1 = F.normalize(view1.float(), dim=1)
        all0, all1 = self.gather(z0), self.gather(z1)  # (W * N, D) each
        total = all0.shape[0]  # W * N
        anchors = torch.cat([z0, z1])  # (2N, D)
        candidates = torch.cat([all0, all1])  # (2WN, D)
        logits = anchors @ candidates.T / self.temperature  # (2N, 2WN)

        local = torch.arange(n, device=z0.device) + self.rank * n  # this worker's rows in all0 / all1
        self_index = torch.cat([local, local + total])  # (2N,) where each anchor sits among the candidates
        positive_index = torch.cat([local + total, local])  # (2N,) its other view
        is_self = F.one_hot(self_index, 2 * total).bool()  # (2N, 2WN)
        logits = logits.masked_fill(is_self, float("-inf"))  # an anchor is never its own negative
        return F.cross_entropy(logits, positive_index)
