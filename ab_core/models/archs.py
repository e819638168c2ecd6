"""The backbone archs: torchvision ResNet layouts by name, with each tap's width and the pooled width.

A new arch is one `Arch` row here (its block class may live in its own file under `ab_core/models/`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn
from torchvision.models import (
    ResNet18_Weights,
    ResNet34_Weights,
    ResNet50_Weights,
    WeightsEnum,
    Wide_ResNet50_2_Weights,
)
from torchvision.models.resnet import BasicBlock, Bottleneck

from ab_core.models.cbam import CBAMBasicBlock, init_cbam

BASIC_CHANNELS = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}
BOTTLENECK_CHANNELS = {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}


@dataclass(frozen=True)
class Arch:
    name: str
    block: type[nn.Module]  # BasicBlock, Bottleneck or a subclass with the same constructor
    layers: tuple[int, int, int, int]  # blocks per stage
    channels: dict[str, int]  # output width of each tap, layer1..layer4
    width_per_group: int = 64  # 128: the "wide" ResNets
    imagenet: WeightsEnum | None = None  # torchvision's ImageNet weights, when they exist
    post_init: Callable[[nn.Module], None] | None = None  # run after torchvision's init (CBAM's gates)
    decoder: bool = False  # a U-Net decoder fits on it: the backbone is its encoder (see models/unet.py)

    @property
    def feature_dim(self) -> int:
        """Width of the pooled feature `forward` returns."""
        return self.channels["layer4"]


ARCHS: dict[str, Arch] = {
    arch.name: arch
    for arch in (
        Arch("resnet18", BasicBlock, (2, 2, 2, 2), BASIC_CHANNELS, imagenet=ResNet18_Weights.IMAGENET1K_V1),
        Arch("resnet34", BasicBlock, (3, 4, 6, 3), BASIC_CHANNELS, imagenet=ResNet34_Weights.IMAGENET1K_V1),
        Arch("resnet50", Bottleneck, (3, 4, 6, 3), BOTTLENECK_CHANNELS,
             imagenet=ResNet50_Weights.IMAGENET1K_V1),
        Arch("wide_resnet50_2", Bottleneck, (3, 4, 6, 3), BOTTLENECK_CHANNELS, width_per_group=128,
             imagenet=Wide_ResNet50_2_Weights.IMAGENET1K_V1),
        # ResNet-18 with CBAM in each basic block (Woo et al. 2018); no ImageNet weights in torchvision
        Arch("cbam_resnet18", CBAMBasicBlock, (2, 2, 2, 2), BASIC_CHANNELS, post_init=init_cbam),
        # a U-Net whose encoder is ResNet-18: the backbone is that encoder, in resnet18's layout and names
        Arch("unet_resnet18", BasicBlock, (2, 2, 2, 2), BASIC_CHANNELS,
             imagenet=ResNet18_Weights.IMAGENET1K_V1, decoder=True),
    )
}


def arch(name: str) -> Arch:
    if name not in ARCHS:
        raise ValueError(f"unknown arch {name!r}; accepted: {', '.join(ARCHS)}")
    return ARCHS[name]
