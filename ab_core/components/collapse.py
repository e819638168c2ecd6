"""SimSiam's collapse indicator: the per-channel spread of L2-normalised outputs, and a monitor over it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def output_std(z: Tensor) -> Tensor:
    """Chen & He 2021, Sec. 4.1: "we monitor the standard deviation (std) of the l2-normalized output
    z/||z||_2 ... If the outputs collapse to a constant vector, their std over all samples should be zero
    for each channel." The std over the batch of each channel, averaged over channels: about 1/sqrt(d)
    for outputs spread over the sphere, 0 when collapsed. (B, d) -> () float32, no gradient.
    """
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"expected (B, d) outputs with B >= 2, got {tuple(z.shape)}")
    return F.normalize(z.detach().float(), dim=1).std(dim=0).mean()


class CollapseMonitor(nn.Module):
    """Flags a collapse once `output_std * sqrt(d)` (about 1 when healthy, 0 when collapsed) has stayed
    below `threshold` for `patience` consecutive observations; the flag then stays set for the run.

    Its count and flag are buffers, so a run resumed from a checkpoint carries on where it stopped.
    """

    below: Tensor
    flagged: Tensor

    def __init__(self, dim: int, threshold: float, patience: int):
        super().__init__()
        if dim < 1 or not 0 < threshold < 1 or patience < 1:
            raise ValueError(
                f"need dim >= 1, 0 < threshold < 1 and patience >= 1; got {dim}, {threshold}, {patience}"
            )
        self.scale = math.sqrt(dim)
        self.threshold = threshold
        self.patience = patience
        self.register_buffer("below", torch.zeros((), dtype=torch.long))  # consecutive observations under
        self.register_buffer("flagged", torch.zeros((), dtype=torch.bool))

    @property
    def collapsed(self) -> bool:
        return bool(self.flagged)

    def observe(self, std: float) -> bool:
        """Record one observation of `output_std`; True exactly once, when the collapse is first flagged."""
        self.below.fill_(int(self.below) + 1 if std * self.scale < self.threshold else 0)
        if self.collapsed or int(self.below) < self.patience:
            return False
        self.flagged.fill_(True)
        return True

    def warning(self) -> str:
        return (
            f"representation collapse: output_std * sqrt(d) stayed below {self.threshold} for "
            f"{self.patience} reports (healthy is about 1, collapsed 0)"
        )
