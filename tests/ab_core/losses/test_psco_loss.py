"""PsCo: Sinkhorn's marginals, Sinkhorn and the loss against slow plain-Python references of the
official code's formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ab_core.losses.psco import psco_loss, sinkhorn


def slow_sinkhorn(scores: list[list[float]], epsilon: float, iterations: int) -> list[list[float]]:
    """SwAV / PsCo's loop, one number at a time: columns to 1/K, then rows to 1/B; times B."""
    rows, cols = len(scores), len(scores[0])
    q = [[math.exp(s / epsilon) for s in row] for row in scores]
    total = sum(map(sum, q))
    q = [[v / total for v in row] for row in q]
    for _ in range(iterations):
        for j in range(cols):
            column = sum(q[i][j] for i in range(rows))
            for i in range(rows):
                q[i][j] /= column * cols
        for i in range(rows):
            row_sum = sum(q[i])
            q[i] = [v / (row_sum * rows) for v in q[i]]
    return [[v * rows for v in row] for row in q]


def unit(*shape: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape), dim=-1)


def test_sinkhorn_matches_the_slow_reference():
    torch.manual_seed(0)
    scores = unit(4, 8) @ unit(10, 8).T  # cosines, as PsCo feeds it
    expected = torch.tensor(slow_sinkhorn(scores.tolist(), 0.05, 3))
    assert torch.allclose(sinkhorn(scores, 0.05, 3), expected, rtol=1e-4, atol=1e-7)


def test_sinkhorn_rows_sum_to_one_and_columns_to_b_over_k():
    torch.manual_seed(1)
    batch, size = 6, 24
    scores = unit(batch, 16) @ unit(size, 16).T
    few = sinkhorn(scores, epsilon=0.05, iterations=3)
    assert torch.allclose(few.sum(dim=1), torch.ones(batch), atol=1e-5)  # the last scaling is exact
    converged = sinkhorn(scores, epsilon=0.5, iterations=500)
    assert torch.allclose(converged.sum(dim=1), torch.ones(batch), atol=1e-5)
    assert torch.allclose(converged.sum(dim=0), torch.full((size,), batch / size), atol=1e-4)
    assert (converged >= 0).all()


def test_sinkhorn_spreads_a_batch_that_all_prefers_one_queue_item():
    scores = torch.zeros(4, 4)
    scores[:, 0] = 1.0  # every item is closest to queue item 0
    plan = sinkhorn(scores, epsilon=0.05, iterations=200)
    assert torch.allclose(plan.sum(dim=0), torch.ones(4), atol=1e-3)  # each queue item used once


def slow_psco(query, key, queue, shots, t, t2, epsilon, iterations) -> tuple[float, float]:
    q, k, bank = query.tolist(), key.tolist(), queue.tolist()

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    plan = slow_sinkhorn([[dot(a, b) for b in bank] for a in k], epsilon, iterations)
    picked = [sorted(range(len(bank)), key=lambda j: -row[j])[:shots] for row in plan]
    support = [bank[j] for row in picked for j in row]
    supcon, moco = 0.0, 0.0
    for i, qi in enumerate(q):
        logsumexp = math.log(sum(math.exp(dot(qi, s) / t2) for s in support))
        prototype = [sum(bank[j][c] for j in picked[i]) / shots for c in range(len(qi))]
        supcon += logsumexp - dot(qi, prototype) / t2
        logits = [dot(qi, k[i]) / t] + [dot(qi, b) / t for b in bank]
        moco += -logits[0] + math.log(sum(math.exp(v) for v in logits))
    return supcon / len(q), moco / len(q)


@pytest.mark.parametrize("shots", [1, 3])
def test_the_psco_loss_matches_the_slow_reference(shots):
    torch.manual_seed(shots)
    query, key, queue = unit(5, 8), unit(5, 8), unit(12, 8)
    terms = psco_loss(query, key, queue, shots, temperature=0.2, supcon_temperature=1.0)
    supcon, moco = slow_psco(query, key, queue, shots, 0.2, 1.0, 0.05, 3)
    assert terms.supcon.item() == pytest.approx(supcon, rel=1e-5)
    assert terms.moco.item() == pytest.approx(moco, rel=1e-5)
    assert terms.loss.item() == pytest.approx(supcon + moco, rel=1e-5)


def test_gradients_reach_the_query_only():
    query = unit(4, 8).requires_grad_(True)
    key = unit(4, 8).requires_grad_(True)
    psco_loss(query, key, unit(16, 8), shots=2).loss.backward()
    assert query.grad is not None and query.grad.abs().sum() > 0
    assert key.grad is None


def test_drawn_shots_come_from_the_queue():
    torch.manual_seed(0)
    terms = psco_loss(unit(4, 8), unit(4, 8), unit(16, 8), shots=4, sampling="prob")
    assert torch.isfinite(terms.loss)


def test_the_loss_is_computed_in_float32_under_bf16_autocast():
    torch.manual_seed(3)
    query, key, queue = unit(8, 16), unit(8, 16), unit(64, 16)
    exact = psco_loss(query, key, queue, shots=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = psco_loss(query, key, queue, shots=4)
    assert mixed.loss.dtype == torch.float32
    assert mixed.loss.item() == pytest.approx(exact.loss.item(), rel=1e-6)
