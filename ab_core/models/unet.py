"""The U-Net of `unet_resnet18`: a ResNet encoder's five feature maps and the decoder that climbs back.

The encoder is the arch's backbone (ResNet-18 parameter names, so every evaluator can load it); the
decoder is a head of the method that trains it (`reconstruction`), saved beside the backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import ResNet

# the decoder's widths, coarse to fine (segmentation_models_pytorch's Unet default)
DECODER_CHANNELS = (256, 128, 64, 32, 16)


def encoder_features(encoder: ResNet, x: Tensor) -> list[Tensor]:
    """(B, 3, H, W) -> [stem (B, 64, H/2), layer1 (B, 64, H/4), layer2 (H/8), layer3 (H/16), layer4 (H/32)]
    for a basic-block ResNet; the stem is taken after its ReLU, before the max-pool."""
    stem = encoder.relu(encoder.bn1(encoder.conv1(x)))
    layer1 = encoder.layer1(encoder.maxpool(stem))
    layer2 = encoder.layer2(layer1)
    layer3 = encoder.layer3(layer2)
    return [stem, layer1, layer2, layer3, encoder.layer4(layer3)]


class DecoderBlock(nn.Module):
    """Upsample x2 (nearest), concatenate the skip connection, then two 3x3 conv - BN - ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, channels: int):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels + skip_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor, skip: Tensor | None) -> Tensor:
        size = (x.shape[-2] * 2, x.shape[-1] * 2) if skip is None else skip.shape[-2:]
        x = F.interpolate(x, size=size, mode="nearest")  # x2, or the skip's size for odd inputs
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UNetDecoder(nn.Module):
    """U-Net's expansive path (Ronneberger et al., MICCAI 2015): "every step in the expansive path
    consists of an upsampling of the feature map ..., a concatenation with the correspondingly cropped
    feature map from the contracting path, and two 3x3 convolutions, each followed by a ReLU"; here a
    ResNet-18 encoder's maps are the contracting path (skips at H/16, H/8, H/4, H/2), each conv has BN,
    and a last 3x3 convolution gives `out_channels` maps at full resolution, no activation.

    encoder_features(...) [(B, 64, H/2), (B, 64, H/4), (B, 128, H/8), (B, 256, H/16), (B, 512, H/32)]
    -> (B, out_channels, H, W).
    """

    def __init__(self, out_channels: int = 3, encoder_channels: tuple[int, ...] = (64, 64, 128, 256, 512)):
        super().__init__()
        skips = (*encoder_channels[-2::-1], 0)  # (256, 128, 64, 64, 0): deepest skip first, none last
        inputs = (encoder_channels[-1], *DECODER_CHANNELS[:-1])  # (512, 256, 128, 64, 32)
        self.blocks = nn.ModuleList(
            DecoderBlock(i, s, c) for i, s, c in zip(inputs, skips, DECODER_CHANNELS, strict=True)
        )
        self.head = nn.Conv2d(DECODER_CHANNELS[-1], out_channels, 3, padding=1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, features: list[Tensor], size: tuple[int, int] | None = None) -> Tensor:
        x, skips = features[-1], [*features[-2::-1], None]
        for block, skip in zip(self.blocks, skips, strict=True):
            x = block(x, skip)
        if size is not None and tuple(x.shape[-2:]) != size:  # inputs not divisible by 32
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.head(x)
