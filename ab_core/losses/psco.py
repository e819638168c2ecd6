"""PsCo's loss: pseudo-labels between a batch and a queue by Sinkhorn-Knopp, a few-shot supervised
contrast over the shots they pick, plus MoCo's contrast against the queue."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def sinkhorn(scores: Tensor, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    """Sinkhorn-Knopp on exp(scores / epsilon) (Cuturi 2013; SwAV's form, as PsCo calls it): alternately
    scale the columns to 1/K and the rows to 1/B of a plan of total mass 1, columns first, then rows;
    the result times B. Each row then sums to 1 (an assignment of batch item i over the K queue items) and,
    as the iterations converge, each column to B / K (the queue used evenly).
    (B, K) scores -> (B, K) float32, no gradient."""
    if scores.dim() != 2 or epsilon <= 0 or iterations < 1:
        raise ValueError(f"need (B, K) scores, epsilon > 0, iterations >= 1; got {tuple(scores.shape)}, "
                         f"{epsilon}, {iterations}")
    scores = scores.float()
    plan = torch.exp((scores - scores.max()) / epsilon)  # the max shift cancels in the normalisation
    plan /= plan.sum()
    rows, cols = plan.shape
    for _ in range(iterations):
        plan /= plan.sum(dim=0, keepdim=True) * cols  # every column sums to 1 / K
        plan /= plan.sum(dim=1, keepdim=True) * rows  # every row sums to 1 / B
    return plan * rows


class PsCoTerms(NamedTuple):
    loss: Tensor  # () supcon + moco
    supcon: Tensor  # () the pseudo-supervised few-shot contrast
    moco: Tensor  # () MoCo's InfoNCE against the queue


def psco_loss(
    query: Tensor,
    key: Tensor,
    queue: Tensor,
    shots: int,
    temperature: float = 0.2,
    supcon_temperature: float = 1.0,
    epsilon: float = 0.05,
    iterations: int = 3,
    sampling: Literal["topk", "prob"] = "topk",
) -> PsCoTerms:
    """PsCo (Jang et al. 2023), with the official code's choices.

    query (B, d): normalised online predictions of view 1; key (B, d): normalised momentum projections of
    view 2 (no gradient); queue (K, d): normalised momentum features of past batches. Sinkhorn between
    keys and queue gives each item i a pseudo-class of `shots` queue rows S_i (its top-`shots` assignment,
    or drawn from it), prototype c_i their mean; then

        supcon_i = log sum_{j, s in S_j} exp(q_i . s / t2)  -  q_i . c_i / t2
        moco_i   = -log softmax([q_i . k_i, q_i . queue] / t)_0

    averaged over i. In float32 even under autocast: exp(score / 0.05) magnifies bf16 rounding.
    """
    with torch.autocast(query.device.type, enabled=False):
        return _psco_loss(query, key.detach(), queue.detach(), shots, temperature, supcon_temperature,
                          epsilon, iterations, sampling)


def _psco_loss(
    query: Tensor,
    key: Tensor,
    queue: Tensor,
    shots: int,
    temperature: float,
    supcon_temperature: float,
    epsilon: float,
    iterations: int,
    sampling: Literal["topk", "prob"],
) -> PsCoTerms:
    with torch.no_grad():
        assignment = sinkhorn(key.float() @ queue.float().T, epsilon, iterations)  # (B, K)
        if sampling == "topk":
            picked = assignment.topk(shots, dim=1).indices  # (B, shots)
        else:
            picked = torch.multinomial(assignment, shots)  # (B, shots), without replacement
        support = queue[picked.reshape(-1)]  # (B * shots, d): the N-way K-shot task
        prototypes = support.view(query.shape[0], shots, -1).mean(dim=1)  # (B, d)
    query = query.float()
    supcon = (query @ support.float().T / supcon_temperature).logsumexp(dim=1) - (
        query * prototypes.float()
    ).sum(dim=1) / supcon_temperature  # (B,)
    logits = torch.cat([(query * key.float()).sum(dim=1, keepdim=True), query @ queue.float().T], dim=1)
    positive = torch.zeros(len(query), dtype=torch.long, device=query.device)  # the key sits at column 0
    moco = F.cross_entropy(logits / temperature, positive)
    return PsCoTerms(supcon.mean() + moco, supcon.mean(), moco)
