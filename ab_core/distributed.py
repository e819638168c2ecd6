"""The process group as ab_core sees it: rank, world size, and a gather that keeps gradients.

Whoever starts the processes (Ray Train's TorchTrainer, torchrun) initialises torch.distributed; ab_core
only reads it, so the same loop runs alone or data-parallel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_world() -> World:
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def all_gather_with_grad(x: Tensor) -> Tensor:
    """(N, D) on every rank -> (W * N, D), gradients flowing back to each rank's rows."""
    import torch.distributed.nn.functional as dist_nn

    return torch.cat(dist_nn.all_gather(x), dim=0)
