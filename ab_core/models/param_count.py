"""Parameter counts of each arch: backbone, backbone + a classifier head, and the U-Net decoder if any."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ab_core.models.archs import arch
from ab_core.models.backbone import ResNetBackbone
from ab_core.models.unet import UNetDecoder


@dataclass(frozen=True)
class ParameterCount:
    arch: str
    backbone: int  # the exported network, fc = Identity
    with_head: int  # backbone + Linear(feature_dim, classes): how papers count "ResNet-18"
    decoder: int  # the U-Net decoder the reconstruction method trains on it (3-channel output); 0 if none

    @property
    def total(self) -> int:
        """Everything a run trains on this arch with the head: backbone + head + decoder."""
        return self.with_head + self.decoder


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_count(name: str, classes: int = 18) -> ParameterCount:
    """Counted on the meta device (no memory, no init cost). `classes`: the head's width (the study's
    figures are for an 18-class head)."""
    layout = arch(name)
    with torch.device("meta"):
        backbone = _count(ResNetBackbone(name))
        decoder = _count(UNetDecoder(out_channels=3)) if layout.decoder else 0
    head = layout.feature_dim * classes + classes
    return ParameterCount(name, backbone, backbone + head, decoder)
