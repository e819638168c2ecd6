"""Adam applied inside backward: each parameter steps as soon as its gradient is complete, then drops it."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn


class AdamInBackward:
    """Adam (Kingma & Ba 2015), one fused CPU/CUDA kernel per parameter, run from the parameter's
    post-accumulate-grad hook, so no parameter's gradient outlives its own step.

    Adam is elementwise per parameter (no global norm here), so stepping each parameter the moment
    backward has accumulated its gradient gives the same update as one `torch.optim.Adam(fused=True)`
    step after backward (bit for bit: the same kernel on the same values), while the gradients of all
    parameters (as large as the parameters) never exist at once. Use: `loss.backward()` is the whole
    step; a parameter backward does not reach does not step (as Adam skips a None gradient). Each
    parameter must be used once per forward (its hook fires once per accumulation). `remove()` when done.
    """

    def __init__(self, parameters: Iterable[nn.Parameter], lr: float, betas: tuple[float, float]):
        self.parameters = [p for p in parameters if p.requires_grad]
        self.optimizers = {p: torch.optim.Adam([p], lr=lr, betas=betas, fused=True) for p in self.parameters}
        self.handles = [p.register_post_accumulate_grad_hook(self._step) for p in self.parameters]

    def _step(self, parameter: Tensor) -> None:
        self.optimizers[parameter].step()  # type: ignore[index]
        parameter.grad = None

    def remove(self) -> None:
        """Detach the hooks (call when training ends, so later backward passes do not step)."""
        for handle in self.handles:
            handle.remove()
        self.handles = []
