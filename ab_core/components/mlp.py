"""The MLP heads of the Siamese and momentum methods (SimSiam, PsCo): Linear-BN-ReLU stacks."""

from __future__ import annotations

from torch import nn


def mlp(*widths: int, last_bn: bool = False, last_bias: bool = False) -> nn.Sequential:
    """Linear layers between consecutive `widths`, BatchNorm1d + ReLU after each but the last.

    Hidden layers have no bias (their BatchNorm has one). `last_bn`: a BatchNorm1d without affine
    parameters after the last layer (SimSiam's projector output, PsCo's projector); `last_bias`: a bias
    on the last layer (SimSiam's predictor). (B, widths[0]) -> (B, widths[-1]).
    """
    if len(widths) < 2:
        raise ValueError(f"an MLP needs at least an input and an output width, got {widths}")
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        last = index == len(widths) - 2
        layers.append(nn.Linear(width_in, width_out, bias=last and last_bias and not last_bn))
        if not last:
            layers += [nn.BatchNorm1d(width_out), nn.ReLU(inplace=True)]
        elif last_bn:
            layers.append(nn.BatchNorm1d(width_out, affine=False))
    return nn.Sequential(*layers)
