import math

import pytest
import torch
import torch.nn.functional as F

from ab_core.components.flows import ConditionalAffineCoupling, ConditionalFlow, gaussian_log_likelihood


def random_flow(channels: int = 5, condition: int = 4, blocks: int = 3, seed: int = 0) -> ConditionalFlow:
    """A float64 flow pushed away from its near-identity start, so every term of the block matters."""
    torch.manual_seed(seed)
    flow = ConditionalFlow(channels, condition, blocks, clamp=1.9).double()
    with torch.no_grad():
        for block in flow.couplings():
            block.global_scale.add_(torch.randn_like(block.global_scale))
            block.global_offset.normal_()
            for p in block.subnet.parameters():
                p.mul_(4)
    return flow


def test_inverse_reproduces_the_input_and_negates_the_log_determinant():
    flow = random_flow()
    x, c = torch.randn(7, 5, dtype=torch.float64), torch.randn(7, 4, dtype=torch.float64)
    z, log_det = flow(x, c)
    back, inverse_log_det = flow.inverse(z, c)
    torch.testing.assert_close(back, x, atol=1e-10, rtol=0)
    torch.testing.assert_close(inverse_log_det, -log_det, atol=1e-10, rtol=0)
    assert (z - x).abs().max() > 0.1  # not the identity


def test_log_determinant_matches_autograds_jacobian():
    flow = random_flow()
    x, c = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
    with torch.no_grad():
        _, log_det = flow(x, c)
    for i in range(4):
        jacobian = torch.autograd.functional.jacobian(lambda v, i=i: flow(v[None], c[i : i + 1])[0][0], x[i])
        sign, logabs = torch.linalg.slogdet(jacobian)
        assert float(sign) != 0
        assert float(log_det[i]) == pytest.approx(float(logabs), abs=1e-9)


def test_the_condition_changes_the_output():
    flow = random_flow()
    x = torch.randn(3, 5, dtype=torch.float64)
    z1, _ = flow(x, torch.zeros(3, 4, dtype=torch.float64))
    z2, _ = flow(x, torch.ones(3, 4, dtype=torch.float64))
    assert (z1 - z2).abs().max() > 1e-3


def freia_block(block: ConditionalAffineCoupling, x: torch.Tensor, c: torch.Tensor):
    """A slow restatement of FrEIA 0.2's AllInOneBlock forward (hard permutation as a matrix, SOFTPLUS)."""
    channels = x.shape[1]
    w_perm = torch.zeros(channels, channels, dtype=x.dtype)
    w_perm[torch.arange(channels), block.perm] = 1.0
    x1, x2 = x[:, : channels - channels // 2], x[:, channels - channels // 2 :]
    a = block.subnet(torch.cat([x1, c], 1)) * 0.1
    sub_jac = 1.9 * torch.tanh(a[:, : x2.shape[1]])
    x2 = x2 * torch.exp(sub_jac) + a[:, x2.shape[1] :]
    scale = 0.1 * torch.nn.Softplus(beta=0.5)(block.global_scale)
    out = F.linear(torch.cat([x1, x2], 1) * scale + block.global_offset, w_perm)
    return out, sub_jac.sum(1) + torch.log(scale).sum()


def test_each_block_equals_freias_all_in_one_formulation():
    flow = random_flow(channels=6)
    x, c = torch.randn(9, 6, dtype=torch.float64), torch.randn(9, 4, dtype=torch.float64)
    for block in flow.couplings():
        expected, expected_log_det = freia_block(block, x, c)
        got, log_det = block(x, c)
        torch.testing.assert_close(got, expected)
        torch.testing.assert_close(log_det, expected_log_det)
        x = got


def test_soft_clamp_bounds_each_blocks_log_scale():
    torch.manual_seed(0)
    block = ConditionalAffineCoupling(8, 2, clamp=1.9)
    with torch.no_grad():
        for p in block.subnet.parameters():
            p.mul_(1000)  # saturate tanh
    _, log_det = block(torch.randn(16, 8), torch.randn(16, 2))
    # |s| <= 1.9 on each of the 4 transformed channels; the global scale starts at 1 (log 0)
    assert log_det.abs().max() <= 4 * 1.9 + 1e-4
    assert log_det.abs().max() > 4 * 1.9 * 0.9


def test_a_fresh_block_starts_with_unit_global_scale():
    block = ConditionalAffineCoupling(4, 2)
    torch.testing.assert_close(block.scale(), torch.ones(1, 4))


def test_log_likelihood_of_an_identity_flow_is_the_standard_normal_density():
    flow = ConditionalFlow(4, 2, blocks=2)
    with torch.no_grad():
        for block in flow.couplings():  # zero coupling output: each block is a pure permutation
            block.subnet[2].weight.zero_()
            block.subnet[2].bias.zero_()
    x = torch.randn(10, 4)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1) / 4
    torch.testing.assert_close(flow.log_likelihood_per_dim(x, torch.randn(10, 2)), expected)
    z = torch.randn(3, 4)
    assert torch.allclose(gaussian_log_likelihood(z, torch.zeros(3)),
                          -2 * math.log(2 * math.pi) - 0.5 * z.square().sum(1))


def test_a_condition_given_in_factors_gives_the_same_likelihoods_and_gradients():
    flow = random_flow()  # condition length 4 = a (3, 1) table (fewer rows than fibers) + a (20, 3) one
    x = torch.randn(9, 5, dtype=torch.float64)
    generator = torch.Generator().manual_seed(2)
    tables = [torch.randn(3, 1, dtype=torch.float64), torch.randn(20, 3, dtype=torch.float64)]
    where = [torch.randint(0, len(t), (9,), generator=generator) for t in tables]
    condition = torch.cat([t[i] for t, i in zip(tables, where, strict=True)], dim=1)  # (9, 4)
    direct = flow.log_likelihood_per_dim(x, condition)
    direct_grads = torch.autograd.grad(direct.sum(), list(flow.parameters()))
    factored = flow.log_likelihood_per_dim(x, tables, where)
    factored_grads = torch.autograd.grad(factored.sum(), list(flow.parameters()))
    torch.testing.assert_close(factored, direct, atol=1e-12, rtol=0)
    for got, want in zip(factored_grads, direct_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
    with torch.no_grad():  # the scorer's form: each block's condition terms once per position, up front
        positions = torch.randn(6, 4, dtype=torch.float64)
        index = torch.randint(0, 6, (9,), generator=generator)
        scored = flow.log_likelihood_projected(x, flow.project_conditions(positions), index)
        expected = flow.log_likelihood_per_dim(x, positions[index])
        torch.testing.assert_close(scored, expected, atol=1e-12, rtol=0)
