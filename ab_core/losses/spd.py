"""SPD's regulariser: the similarity of an image's view to its SmoothBlend copy, pushed down."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def spd_simsiam(p: Tensor, z: Tensor, p_blend: Tensor, z_blend: Tensor) -> Tensor:
    """SimSiam base: 1/2 cos(p, stopgrad(z~)) + 1/2 cos(p~, stopgrad(z)), with p, z the prediction and
    projection of a view and p~, z~ those of its SmoothBlend copy: SimSiam's symmetric term with the sign
    turned, so the copy acts as a negative. (N, d) each -> () in [-1, 1]."""
    forward = F.cosine_similarity(p.float(), z_blend.detach().float(), dim=1)
    backward = F.cosine_similarity(p_blend.float(), z.detach().float(), dim=1)
    return 0.5 * forward.mean() + 0.5 * backward.mean()


def spd_simclr(z: Tensor, z_blend: Tensor) -> Tensor:
    """SimCLR base: cos(z, z~) of the projections of a view and of its SmoothBlend copy, gradients into
    both (SimCLR has no stop-gradient). (N, d) each -> () in [-1, 1]."""
    return F.cosine_similarity(z.float(), z_blend.float(), dim=1).mean()
