"""SimSiam's symmetric negative cosine: closed-form values and the stop-gradient on the targets."""

from __future__ import annotations

import math

import pytest
import torch

from ab_core.losses.simsiam import SimSiamLoss, negative_cosine


def test_the_loss_is_minus_one_when_each_prediction_points_along_the_other_views_projection():
    z = torch.randn(6, 16)
    assert SimSiamLoss()(3 * z, 0.5 * z, z, z).item() == pytest.approx(-1.0, abs=1e-6)


def test_orthogonal_predictions_give_zero_and_opposite_ones_plus_one():
    e0, e1 = torch.eye(2)[:1], torch.eye(2)[1:]  # (1, 2) each
    assert SimSiamLoss()(e0, e0, e1, e1).item() == pytest.approx(0.0, abs=1e-7)
    assert SimSiamLoss()(e0, -e1, e1, -e0).item() == pytest.approx(1.0, abs=1e-7)


def test_the_loss_matches_the_papers_formula_by_hand():
    torch.manual_seed(0)
    p1, p2, z1, z2 = torch.randn(4, 5, 8).unbind(0)

    def d(p, z):  # -(p / |p|) . (z / |z|), row by row, in plain Python
        rows = []
        for a, b in zip(p.tolist(), z.tolist(), strict=True):
            dot = sum(x * y for x, y in zip(a, b, strict=True))
            rows.append(-dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))))
        return sum(rows) / len(rows)

    expected = 0.5 * d(p1, z2) + 0.5 * d(p2, z1)
    assert SimSiamLoss()(p1, p2, z1, z2).item() == pytest.approx(expected, abs=1e-6)


def test_no_gradient_reaches_the_targets():
    p = torch.randn(4, 8, requires_grad=True)
    z = torch.randn(4, 8, requires_grad=True)
    negative_cosine(p, z).backward()
    assert p.grad is not None and p.grad.abs().sum() > 0
    assert z.grad is None


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="four"):
        SimSiamLoss()(torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8), torch.randn(3, 8))
