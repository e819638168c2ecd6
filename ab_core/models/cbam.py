"""CBAM-ResNet blocks: a torchvision BasicBlock with channel and spatial attention before the residual sum."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock


class ChannelGate(nn.Module):
    """CBAM's channel attention: "we aggregate spatial information of a feature map by using both
    average-pooling and max-pooling operations ... Both descriptors are then forwarded to a shared
    network", a one-hidden-layer MLP of width C / r, summed and squashed by a sigmoid.

    (B, C, H, W) -> (B, C, H, W), each channel scaled by its weight in (0, 1).
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.stack([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))])  # (2, B, C): avg, max
        weights = torch.sigmoid(self.mlp(pooled).sum(dim=0))  # (B, C)
        return x * weights[:, :, None, None]


class SpatialGate(nn.Module):
    """CBAM's spatial attention: "we apply average-pooling and max-pooling operations along the channel
    axis and concatenate them ... a convolution layer" (7 x 7, then BatchNorm as in the authors' code)
    gives one map squashed by a sigmoid.

    (B, C, H, W) -> (B, C, H, W), each position scaled by its weight in (0, 1).
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)  # the authors' BasicConv BN

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return x * torch.sigmoid(self.bn(self.conv(pooled)))


class CBAM(nn.Module):
    """Convolutional Block Attention Module (Woo et al., ECCV 2018): "given an intermediate feature map,
    our module sequentially infers attention maps along two separate dimensions, channel and spatial"."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.channel = ChannelGate(channels, reduction)
        self.spatial = SpatialGate()

    def forward(self, x: Tensor) -> Tensor:
        return self.spatial(self.channel(x))


class CBAMBasicBlock(BasicBlock):
    """ResNet's basic block with CBAM on the residual branch, after bn2 and before the identity is added,
    where the authors' `ResidualNet(..., 'CBAM')` puts it (reduction 16). Same constructor as
    torchvision's BasicBlock, so `torchvision.models.resnet.ResNet` builds it; its parameter names are
    torchvision's plus `cbam.*`."""

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[..., nn.Module] | None = None,
    ):
        super().__init__(inplanes, planes, stride, downsample, groups, base_width, dilation, norm_layer)
        self.cbam = CBAM(planes)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.cbam(self.bn2(self.conv2(out)))
        return self.relu(out + identity)


def init_cbam(model: nn.Module) -> None:
    """The authors' init, run after torchvision's: the spatial gate's BN weight 0 (every position starts
    at weight sigmoid(0) = 1/2) and every bias of the attention MLP 0."""
    for module in model.modules():
        if isinstance(module, SpatialGate):
            nn.init.zeros_(module.bn.weight)
            nn.init.zeros_(module.bn.bias)
        elif isinstance(module, ChannelGate):
            for layer in module.mlp:
                if isinstance(layer, nn.Linear):
                    nn.init.zeros_(layer.bias)
