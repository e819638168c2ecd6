"""The trainable halves of reverse distillation: the one-class bottleneck and the mirrored ResNet decoder.

Both follow the layout of the RD4AD reference code (hq-deng/RD4AD `BN_layer`, `de_resnet*`): for a
basic-block teacher (ResNet-18/34) the widths are 64/128/256 -> 512; for a bottleneck teacher
(ResNet-50, WideResNet-50-2) every width is 4x (expansion) and the bottleneck blocks keep the arch's
width per group (128 for the wide ResNets).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1, conv3x3

from ab_core.models.archs import arch as arch_layout

# blocks per decoder stage (256, 128, 64 planes), as the reference de_resnet18 / 34 / 50 / wide_resnet50_2
DECODER_BLOCKS = {
    "resnet18": (2, 2, 2), "resnet34": (3, 4, 6), "resnet50": (3, 4, 6), "wide_resnet50_2": (3, 4, 6),
    "cbam_resnet18": (2, 2, 2), "unet_resnet18": (2, 2, 2),  # ResNet-18 widths: de_resnet18's decoder
}
# residual blocks of the bottleneck embedding: the reference BN_layer(block, 2) for resnet18, 3 otherwise
OCBE_BLOCKS = {name: 2 if blocks == (2, 2, 2) else 3 for name, blocks in DECODER_BLOCKS.items()}


def expansion_of(arch: str) -> int:
    """1 for basic-block archs, 4 for bottleneck ones: the factor on every RD4AD width."""
    return 4 if issubclass(arch_layout(arch).block, Bottleneck) else 1


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


def _deconv2x2(in_channels: int, channels: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(in_channels, channels, 2, stride=2, bias=False)


class OneClassBottleneck(nn.Module):
    """OCBE of Deng & Li 2022, "a trainable one-class bottleneck embedding (OCBE) module": it fuses the
    teacher's layers 1-3 and compresses them into one compact code.

    With e the expansion (1 basic, 4 bottleneck): layer1 (B, 64e, 4h, 4w) and layer2 (B, 128e, 2h, 2w)
    are brought to layer3's (B, 256e, h, w) by strided 3x3 convolutions, concatenated (B, 768e, h, w)
    and compressed by `blocks` residual blocks of the teacher's kind to (B, 512e, h/2, w/2), the compact
    code the decoder must rebuild the teacher's features from.
    """

    def __init__(self, blocks: int = 2, expansion: int = 1, width_per_group: int = 64):
        super().__init__()
        e = expansion
        self.from_layer1 = nn.Sequential(
            _conv_bn_relu(conv3x3(64 * e, 128 * e, stride=2), 128 * e),
            _conv_bn_relu(conv3x3(128 * e, 256 * e, stride=2), 256 * e),
        )
        self.from_layer2 = _conv_bn_relu(conv3x3(128 * e, 256 * e, stride=2), 256 * e)
        downsample = nn.Sequential(conv1x1(768 * e, 512 * e, stride=2), nn.BatchNorm2d(512 * e))
        layers: list[nn.Module]
        if e == 1:
            layers = [BasicBlock(768, 512, stride=2, downsample=downsample)]
            layers += [BasicBlock(512, 512) for _ in range(blocks - 1)]
        else:
            layers = [Bottleneck(768 * e, 512, stride=2, downsample=downsample, base_width=width_per_group)]
            layers += [Bottleneck(512 * e, 512, base_width=width_per_group) for _ in range(blocks - 1)]
        self.embed = nn.Sequential(*layers)
        _init_weights(self)

    @classmethod
    def for_arch(cls, arch: str) -> OneClassBottleneck:
        """The reference BN_layer of the teacher `arch` (one of DECODER_BLOCKS)."""
        _check(arch)
        return cls(OCBE_BLOCKS[arch], expansion_of(arch), arch_layout(arch).width_per_group)

    def forward(self, layer1: Tensor, layer2: Tensor, layer3: Tensor) -> Tensor:
        fused = [self.from_layer1(layer1), self.from_layer2(layer2), layer3]
        size = layer3.shape[-2:]
        fused = [f if f.shape[-2:] == size else F.interpolate(f, size=size) for f in fused]  # odd sizes
        return self.embed(torch.cat(fused, dim=1))  # (B, 768e, h, w) -> (B, 512e, h/2, w/2)


class UpBlock(nn.Module):
    """A ResNet basic block run backwards: a 2x2 transposed convolution doubles the resolution."""

    def __init__(self, in_channels: int, channels: int, upsample: bool):
        super().__init__()
        first = _deconv2x2(in_channels, channels) if upsample else conv3x3(in_channels, channels)
        self.conv1, self.bn1 = first, nn.BatchNorm2d(channels)
        self.conv2, self.bn2 = conv3x3(channels, channels), nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if upsample or in_channels != channels:
            self.shortcut = nn.Sequential(_deconv2x2(in_channels, channels), nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class UpBottleneck(nn.Module):
    """A ResNet bottleneck run backwards (the reference de_resnet `Bottleneck`): 1x1 in, a 2x2 transposed
    convolution in the middle where the resolution doubles (else 3x3), 1x1 out to 4 x planes."""

    def __init__(self, in_channels: int, planes: int, upsample: bool, width_per_group: int = 64):
        super().__init__()
        width, out_channels = planes * width_per_group // 64, planes * 4
        self.conv1, self.bn1 = conv1x1(in_channels, width), nn.BatchNorm2d(width)
        self.conv2 = _deconv2x2(width, width) if upsample else conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = conv1x1(width, out_channels), nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if upsample or in_channels != out_channels:
            self.shortcut = nn.Sequential(_deconv2x2(in_channels, out_channels), nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


def _check(arch: str) -> None:
    if arch not in DECODER_BLOCKS:
        raise ValueError(f"no RD4AD decoder for arch {arch!r}; accepted: {', '.join(DECODER_BLOCKS)}")


class MirroredDecoder(nn.Module):
    """The student of RD4AD: ResNet layers 3, 2, 1 mirrored, decoding the bottleneck code.

    (B, 512e, h, w) -> [(B, 64e, 8h, 8w), (B, 128e, 4h, 4w), (B, 256e, 2h, 2w)], the shapes of the
    teacher's layer1, layer2 and layer3 (e = 1 for basic-block archs, 4 for bottleneck ones).
    """

    def __init__(self, arch: str = "resnet18"):
        super().__init__()
        _check(arch)
        blocks, e = DECODER_BLOCKS[arch], expansion_of(arch)
        width = arch_layout(arch).width_per_group
        self.up3 = self._stage(512 * e, 256, blocks[0], e, width)
        self.up2 = self._stage(256 * e, 128, blocks[1], e, width)
        self.up1 = self._stage(128 * e, 64, blocks[2], e, width)
        _init_weights(self)

    @staticmethod
    def _stage(in_channels: int, planes: int, blocks: int, expansion: int, width: int) -> nn.Sequential:
        layers: list[nn.Module]
        if expansion == 1:
            layers = [UpBlock(in_channels, planes, upsample=True)]
            layers += [UpBlock(planes, planes, upsample=False) for _ in range(blocks - 1)]
        else:
            layers = [UpBottleneck(in_channels, planes, upsample=True, width_per_group=width)]
            layers += [UpBottleneck(planes * 4, planes, False, width) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, code: Tensor) -> list[Tensor]:
        layer3 = self.up3(code)
        layer2 = self.up2(layer3)
        layer1 = self.up1(layer2)
        return [layer1, layer2, layer3]
