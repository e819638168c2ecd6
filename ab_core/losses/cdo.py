"""CDO's collaborative discrepancy loss between teacher and student feature maps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Distance = Literal["l2", "cosine"]
_TINY = 1e-12  # keeps log() finite where a discrepancy is exactly zero


class CDOTerms(NamedTuple):
    loss: Tensor  # () the value to minimise
    normal_d: Tensor  # () mean discrepancy on normal positions, detached
    defect_d: Tensor | None  # () mean discrepancy on synthetic-defect positions, detached; None if none


def discrepancy_map(teacher: Tensor, student: Tensor, distance: Distance = "l2") -> Tensor:
    """Per-position discrepancy of channel-normalised features: (B, C, h, w) x 2 -> (B, h, w).

    "l2" is ||t - s||^2 in [0, 4]; "cosine" is 1 - cos(t, s) in [0, 2] (= l2 / 2). Both are bounded,
    so maximising them on defects cannot run away.
    """
    t = F.normalize(teacher.float(), dim=1)
    s = F.normalize(student.float(), dim=1)
    if distance == "l2":
        return (t - s).pow(2).sum(dim=1)
    if distance == "cosine":
        return 1.0 - (t * s).sum(dim=1)
    raise ValueError(f"unknown distance {distance!r}; accepted: 'l2', 'cosine'")


def resize_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, 1, H, W) 0/1 -> (B, h, w) bool: a position is a defect when at least half its cell is."""
    return F.interpolate(mask.float(), size=size, mode="area").squeeze(1) >= 0.5


class CDOLoss(nn.Module):
    """The loss of Collaborative Discrepancy Optimization (Cao et al., "Collaborative Discrepancy
    Optimization for Reliable Image Anomaly Localization", IEEE TII 2023).

    MOM (margin optimisation): the teacher-student discrepancy d is minimised on normal positions and
    maximised on synthetic-defect positions. OOM (overlap optimisation): each normal position weighs
    (d / mean_normal d)^gamma and each defect position (mean_defect d / d)^gamma, weights detached, so
    the normal positions that look anomalous and the defects that look normal, the overlap of the two
    distributions, dominate. Per layer, as in the paper,

        L = (sum_n w_n d_n - sum_s w_s d_s) / (sum_n w_n + sum_s w_s),

    a weighted mean in [-max d, max d]; the layers' losses are summed. The weights are normalised in log
    space, so any gamma is finite. gamma = 0 and oom=False are the same (uniform weights).
    """

    def __init__(self, gamma: float = 2.0, oom: bool = True, distance: Distance = "l2"):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = gamma if oom else 0.0
        self.distance = distance

    def forward(self, teacher: Sequence[Tensor], student: Sequence[Tensor], mask: Tensor | None) -> CDOTerms:
        """`teacher[k]`, `student[k]`: layer k's maps (B, C_k, h_k, w_k), the first one the largest;
        `mask`: (B, 1, H, W) 0/1 synthetic-defect mask of the input images, None when all are normal."""
        if len(teacher) != len(student) or not teacher:
            raise ValueError(f"need matching non-empty layer lists, got {len(teacher)} and {len(student)}")
        size = (teacher[0].shape[-2], teacher[0].shape[-1])  # (h0, w0)
        defect = torch.zeros(teacher[0].shape[0], *size, dtype=torch.bool, device=teacher[0].device)
        if mask is not None:
            defect = resize_mask(mask, size)  # (B, h0, w0)
        loss = torch.zeros((), device=teacher[0].device)
        normal_means, defect_means = [], []
        for t, s in zip(teacher, student, strict=True):
            d = discrepancy_map(t, s, self.distance).unsqueeze(1)  # (B, 1, h_k, w_k)
            d = F.interpolate(d, size=size, mode="bilinear", align_corners=False).squeeze(1)  # (B, h0, w0)
            d_normal, d_defect = d[~defect], d[defect]  # (N_n,), (N_s,)
            weights = self._weights(d_normal.detach(), d_defect.detach())  # (N_n + N_s,) summing to 1
            loss = loss + (weights * torch.cat([d_normal, -d_defect])).sum()
            normal_means.append(d_normal.detach().mean())
            defect_means.append(d_defect.detach().mean())
        defect_d = torch.stack(defect_means).mean() if defect.any() else None
        return CDOTerms(loss, torch.stack(normal_means).mean(), defect_d)

    def _weights(self, d_normal: Tensor, d_defect: Tensor) -> Tensor:
        """OOM's weights, normalised over normal and defect positions together: (N_n + N_s,)."""
        log_normal = d_normal.clamp_min(_TINY).log()
        log_defect = d_defect.clamp_min(_TINY).log()
        log_w_normal = self.gamma * (log_normal - _log_mean(d_normal))  # log (d / mean d)^gamma
        log_w_defect = self.gamma * (_log_mean(d_defect) - log_defect)  # log (mean d / d)^gamma
        return torch.softmax(torch.cat([log_w_normal, log_w_defect]), dim=0)


def _log_mean(d: Tensor) -> Tensor:
    return d.mean().clamp_min(_TINY).log() if d.numel() else d.new_zeros(())
