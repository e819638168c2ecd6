"""SPD's regulariser against a slow reference, and where its gradients go."""

from __future__ import annotations

import math

import pytest
import torch

from ab_core.losses.spd import spd_simclr, spd_simsiam


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def slow_mean_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    pairs = list(zip(a.tolist(), b.tolist(), strict=True))
    return sum(cosine(x, y) for x, y in pairs) / len(pairs)


def test_the_simsiam_regulariser_matches_the_slow_reference():
    torch.manual_seed(0)
    p, z, p_blend, z_blend = torch.randn(4, 6, 16).unbind(0)
    expected = 0.5 * slow_mean_cosine(p, z_blend) + 0.5 * slow_mean_cosine(p_blend, z)
    assert spd_simsiam(p, z, p_blend, z_blend).item() == pytest.approx(expected, abs=1e-6)


def test_the_simclr_regulariser_matches_the_slow_reference():
    torch.manual_seed(1)
    z, z_blend = torch.randn(2, 6, 16).unbind(0)
    assert spd_simclr(z, z_blend).item() == pytest.approx(slow_mean_cosine(z, z_blend), abs=1e-6)


def test_closed_form_a_copy_identical_to_its_view_scores_one_and_an_opposite_one_minus_one():
    z = torch.randn(5, 8)
    assert spd_simclr(z, 2 * z).item() == pytest.approx(1.0, abs=1e-6)
    assert spd_simsiam(z, z, -z, -z).item() == pytest.approx(-1.0, abs=1e-6)


def test_simsiam_form_stops_gradients_at_the_projections_simclr_form_does_not():
    p, z, p_blend, z_blend = (torch.randn(3, 8, requires_grad=True) for _ in range(4))
    spd_simsiam(p, z, p_blend, z_blend).backward()
    assert p.grad is not None and p_blend.grad is not None
    assert z.grad is None and z_blend.grad is None
    a, b = torch.randn(3, 8, requires_grad=True), torch.randn(3, 8, requires_grad=True)
    spd_simclr(a, b).backward()
    assert a.grad is not None and b.grad is not None
