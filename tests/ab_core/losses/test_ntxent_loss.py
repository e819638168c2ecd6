import math

import pytest
import torch
import torch.nn.functional as F

from ab_core.losses.ntxent import NTXentLoss


def slow_ntxent(view0: torch.Tensor, view1: torch.Tensor, temperature: float) -> float:
    """One anchor at a time, straight from the paper's definition of l(i, j)."""
    z = F.normalize(torch.cat([view0, view1]).double(), dim=1)
    n = view0.shape[0]
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        sims = [float(z[i] @ z[k]) / temperature for k in range(2 * n)]
        denominator = sum(math.exp(sims[k]) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(sims[positive]) / denominator)
    return total / (2 * n)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0, 3.0])
def test_ntxent_matches_a_per_anchor_python_loop(temperature):
    torch.manual_seed(0)
    view0, view1 = torch.randn(6, 8), torch.randn(6, 8)
    loss = NTXentLoss(temperature)(view0, view1)
    assert loss.item() == pytest.approx(slow_ntxent(view0, view1, temperature), abs=1e-5)


@pytest.mark.parametrize("temperature", [0.2, 1.0])
def test_ntxent_of_identical_pairs_of_orthogonal_vectors_has_closed_form(temperature):
    # each anchor sees its positive at cos 1 and two negatives at cos 0: -log(e^(1/t) / (e^(1/t) + 2))
    basis = torch.eye(2) * 3.0  # norms do not matter: cosine similarity
    loss = NTXentLoss(temperature)(basis, basis.clone())
    assert loss.item() == pytest.approx(math.log(1 + 2 * math.exp(-1 / temperature)), abs=1e-6)


def test_ntxent_of_opposite_views_is_larger_than_of_identical_views():
    basis = torch.eye(2)
    same = NTXentLoss(0.5)(basis, basis.clone())
    opposite = NTXentLoss(0.5)(basis, -basis)
    assert opposite > same


def test_ntxent_sends_gradients_to_both_views():
    view0 = torch.randn(4, 8, requires_grad=True)
    view1 = torch.randn(4, 8, requires_grad=True)
    NTXentLoss(0.5)(view0, view1).backward()
    for grad in (view0.grad, view1.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_ntxent_with_gathered_negatives_averages_to_the_loss_of_the_whole_batch():
    # two simulated workers of 3 images each: the mean of their losses is the single-worker loss of 6
    torch.manual_seed(1)
    full0, full1 = torch.randn(6, 8), torch.randn(6, 8)
    world = {0: F.normalize(full0, dim=1), 1: F.normalize(full1, dim=1)}
    losses = []
    for rank in (0, 1):
        rows = slice(3 * rank, 3 * rank + 3)

        def gather(local: torch.Tensor, rank: int = rank, rows: slice = rows) -> torch.Tensor:
            view = 0 if torch.allclose(local, world[0][rows]) else 1
            parts = [world[view][3 * r : 3 * r + 3] for r in (0, 1)]
            parts[rank] = local  # this worker's rows keep their gradient
            return torch.cat(parts)

        losses.append(NTXentLoss(0.5, gather=gather, rank=rank)(full0[rows], full1[rows]))
    whole = NTXentLoss(0.5)(full0, full1)
    assert ((losses[0] + losses[1]) / 2).item() == pytest.approx(whole.item(), abs=1e-6)


def test_ntxent_refuses_a_non_positive_temperature():
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(0.0)
