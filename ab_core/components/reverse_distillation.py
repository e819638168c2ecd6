"""The trainable halves of reverse distillation: the one-class bottleneck and the mirrored ResNet decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, conv1x1, conv3x3

# blocks per decoder stage (256, 128, 64 channels), as the reference de_resnet18 / de_resnet34
DECODER_BLOCKS = {"resnet18": (2, 2, 2), "resnet34": (3, 4, 6)}


def _init_weights(module: nn.Module) -> None:
    """He init for convolutions, identity BN, as the RD4AD reference code does."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


def _conv_bn_relu(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


class OneClassBottleneck(nn.Module):
    """OCBE of Deng & Li 2022, "a trainable one-class bottleneck embedding (OCBE) module": it fuses the
    teacher's layers 1-3 and compresses them into one compact code.

    layer1 (B, 64, 4h, 4w) and layer2 (B, 128, 2h, 2w) are brought to layer3's (B, 256, h, w) by
    strided 3x3 convolutions, concatenated (B, 768, h, w) and compressed by two residual blocks to
    (B, 512, h/2, w/2), the compact code the decoder must rebuild the teacher's features from.
    """

    def __init__(self, blocks: int = 2):
        super().__init__()
        self.from_layer1 = nn.Sequential(
            _conv_bn_relu(conv3x3(64, 128, stride=2), 128), _conv_bn_relu(conv3x3(128, 256, stride=2), 256)
        )
        self.from_layer2 = _conv_bn_relu(conv3x3(128, 256, stride=2), 256)
        downsample = nn.Sequential(conv1x1(768, 512, stride=2), nn.BatchNorm2d(512))
        layers = [BasicBlock(768, 512, stride=2, downsample=downsample)]
        layers += [BasicBlock(512, 512) for _ in range(blocks - 1)]
        self.embed = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, layer1: Tensor, layer2: Tensor, layer3: Tensor) -> Tensor:
        fused = [self.from_layer1(layer1), self.from_layer2(layer2), layer3]
        size = layer3.shape[-2:]
        fused = [f if f.shape[-2:] == size else F.interpolate(f, size=size) for f in fused]  # odd sizes
        return self.embed(torch.cat(fused, dim=1))  # (B, 768, h, w) -> (B, 512, h/2, w/2)


class UpBlock(nn.Module):
    """A ResNet basic block run backwards: a 2x2 transposed convolution doubles the resolution."""

    def __init__(self, in_channels: int, channels: int, upsample: bool):
        super().__init__()
        first = (
            nn.ConvTranspose2d(in_channels, channels, 2, stride=2, bias=False)
            if upsample
            else conv3x3(in_channels, channels)
        )
        self.conv1, self.bn1 = first, nn.BatchNorm2d(channels)
        self.conv2, self.bn2 = conv3x3(channels, channels), nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if upsample or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.ConvTranspose2d(in_channels, channels, 2, stride=2, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class MirroredDecoder(nn.Module):
    """The student of RD4AD: ResNet layers 3, 2, 1 mirrored, decoding the bottleneck code.

    (B, 512, h, w) -> [(B, 64, 8h, 8w), (B, 128, 4h, 4w), (B, 256, 2h, 2w)], the shapes of the
    teacher's layer1, layer2 and layer3.
    """

    def __init__(self, arch: str = "resnet18"):
        super().__init__()
        if arch not in DECODER_BLOCKS:
            raise ValueError(f"no RD4AD decoder for arch {arch!r}; accepted: {', '.join(DECODER_BLOCKS)}")
        blocks = DECODER_BLOCKS[arch]
        self.up3 = self._stage(512, 256, blocks[0])
        self.up2 = self._stage(256, 128, blocks[1])
        self.up1 = self._stage(128, 64, blocks[2])
        _init_weights(self)

    @staticmethod
    def _stage(in_channels: int, channels: int, blocks: int) -> nn.Sequential:
        layers = [UpBlock(in_channels, channels, upsample=True)]
        layers += [UpBlock(channels, channels, upsample=False) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, code: Tensor) -> list[Tensor]:
        layer3 = self.up3(code)
        layer2 = self.up2(layer3)
        layer1 = self.up1(layer2)
        return [layer1, layer2, layer3]
