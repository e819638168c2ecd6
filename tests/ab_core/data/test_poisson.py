"""Poisson cloning: the discrete Poisson equation solved exactly, and OpenCV's seamlessClone reproduced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl
import torch

from ab_core.data.poisson import clone_box, poisson_blend, solve_dirichlet_poisson

FIXTURE = Path(__file__).parent / "fixtures" / "opencv_seamless_clone.npz"


def _sparse_reference(source: torch.Tensor, dest: torch.Tensor, mixed: bool) -> torch.Tensor:
    """Pérez eq. 7 built pixel by pixel as a sparse system, guidance per edge from the top / left
    pixel's forward gradients (OpenCV's rule for "mixed"), and solved by scipy."""
    channels, h, w = source.shape
    m, n = h - 2, w - 2
    out = dest.clone()
    g, f = source.numpy(), dest.numpy()

    def forward(x, c, i, j):  # (x-gradient, y-gradient) at pixel (i, j)
        gx = x[c, i, j + 1] - x[c, i, j] if j + 1 < w else 0.0
        gy = x[c, i + 1, j] - x[c, i, j] if i + 1 < h else 0.0
        return gx, gy

    def guidance(c, i, j):
        sx, sy = forward(g, c, i, j)
        if mixed:
            dx, dy = forward(f, c, i, j)
            if abs(sx - sy) <= abs(dx - dy):
                return dx, dy
        return sx, sy

    for c in range(channels):
        a = sp.lil_matrix((m * n, m * n))
        b = np.zeros(m * n)
        for i in range(1, h - 1):
            for j in range(1, w - 1):
                row = (i - 1) * n + (j - 1)
                a[row, row] = 4
                vx, vy = guidance(c, i, j)
                left_x, _ = guidance(c, i, j - 1)
                _, up_y = guidance(c, i - 1, j)
                b[row] = -(vx - left_x + vy - up_y)  # sum_q v_pq = -div v
                for qi, qj in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
                    if 1 <= qi <= h - 2 and 1 <= qj <= w - 2:
                        a[row, (qi - 1) * n + (qj - 1)] = -1
                    else:
                        b[row] += f[c, qi, qj]
        out[c, 1:-1, 1:-1] = torch.from_numpy(spl.spsolve(a.tocsr(), b)).view(m, n)
    return out


@pytest.mark.parametrize("mixed", [False, True], ids=["source", "mixed"])
def test_clone_box_equals_a_sparse_solve_of_the_discrete_poisson_equation(mixed):
    torch.manual_seed(0)
    source = torch.rand(3, 7, 9, dtype=torch.float64) * 255
    dest = torch.rand(3, 7, 9, dtype=torch.float64) * 255
    ours = clone_box(source, dest, "mixed" if mixed else "source")
    assert torch.allclose(ours, _sparse_reference(source, dest, mixed), atol=1e-9)


def test_the_clone_has_the_sources_laplacian_inside_and_the_destination_on_the_rim():
    torch.manual_seed(1)
    source = torch.rand(3, 10, 8, dtype=torch.float64) * 255
    dest = torch.rand(3, 10, 8, dtype=torch.float64) * 255
    out = clone_box(source, dest)

    def laplacian(x):  # 5-point, interior pixels
        return x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:] - 4 * x[:, 1:-1, 1:-1]

    assert torch.allclose(laplacian(out), laplacian(source), atol=1e-9)
    rim = torch.ones(10, 8, dtype=torch.bool)
    rim[1:-1, 1:-1] = False
    assert torch.equal(out[:, rim], dest[:, rim])


def test_the_dst_solver_inverts_the_dirichlet_laplacian():
    torch.manual_seed(2)
    f = torch.rand(2, 5, 6, dtype=torch.float64)
    padded = torch.nn.functional.pad(f, (1, 1, 1, 1))  # zero outside
    rhs = 4 * f - (padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:])
    assert torch.allclose(solve_dirichlet_poisson(rhs), f, atol=1e-12)


def test_a_constant_source_leaves_a_constant_destination_unchanged():
    dest = torch.full((1, 3, 12, 12), 90.0)
    source = torch.full((1, 3, 12, 12), 200.0)
    out = poisson_blend(dest, source, torch.tensor([[2, 3, 8, 7]]))
    assert torch.allclose(out, dest, atol=1e-6)  # no gradient to import, the boundary is flat


@pytest.mark.parametrize("gradients", ["source", "mixed"])
def test_poisson_blend_reproduces_opencv_seamless_clone_as_nsa_calls_it(gradients):
    """The fixture holds cv2.seamlessClone(src box, dest, zero-bordered mask, NSA's centre, NORMAL_CLONE /
    MIXED_CLONE) from opencv-python-headless 5.0.0, 24 x 24 images, a 16 x 14 box at (3, 4)."""
    case = np.load(FIXTURE)
    dest = torch.from_numpy(case["dest"]).permute(2, 0, 1)[None].float()  # (1, 3, 24, 24)
    src = torch.from_numpy(case["src"]).permute(2, 0, 1)[None].float()
    top, left, h, w = case["box"].tolist()
    inner = torch.tensor([[top + 1, left + 1, h - 2, w - 2]])  # the zero-bordered mask's bounding box
    out = poisson_blend(dest, src, inner, gradients, margin=3).clamp(0, 255).floor()  # OpenCV truncates
    expected = torch.from_numpy(case[gradients]).permute(2, 0, 1)[None].float()
    assert (out - expected).abs().max() <= 1  # float32 DST inside OpenCV
    assert (out != expected).float().mean() < 0.01
    assert (expected != dest).any()  # the case is not trivial
