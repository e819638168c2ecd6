"""RegAD's Siamese feature registration network: ResNet layers 1-3 with a spatial transformer after each,
a projector and a predictor head, and the symmetric negative-cosine loss with stop-gradient."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ab_core.components.spatial_transformer import SpatialTransformer, StnMode, invert, pooled_size, warp
from ab_core.models.backbone import ResNetBackbone

REGISTERED_LAYERS = ("layer1", "layer2", "layer3")


def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """D(p, z) = -cos(p, stopgrad(z)) along channels (dim 1), averaged over batch and positions."""
    return -F.cosine_similarity(p, z.detach(), dim=1).mean()


def symmetric_loss(p1: Tensor, z1: Tensor, p2: Tensor, z2: Tensor) -> Tensor:
    """SimSiam's L = D(p1, z2) / 2 + D(p2, z1) / 2, as RegAD trains its registration network."""
    return negative_cosine(p1, z2) / 2 + negative_cosine(p2, z1) / 2


def _conv_bn_relu(channels: int) -> list[nn.Module]:
    return [nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]


class Projector(nn.Sequential):
    """The reference's encoder head: (conv1x1, BN, ReLU) x 2, then conv1x1; widths = layer 3's."""

    def __init__(self, channels: int):
        super().__init__(*_conv_bn_relu(channels), *_conv_bn_relu(channels),
                         nn.Conv2d(channels, channels, 1, bias=False))  # fmt: skip


class Predictor(nn.Sequential):
    """The reference's predictor head: conv1x1, BN, ReLU, conv1x1."""

    def __init__(self, channels: int):
        super().__init__(*_conv_bn_relu(channels), nn.Conv2d(channels, channels, 1, bias=False))


class FeatureRegistration(nn.Module):
    """RegAD (Huang et al. 2022): "a Siamese network ... where the two branches share weights ... feature
    registration [is] implemented by STN modules inserted after each of the first three convolutional
    residual blocks", trained so that the registered query features predict the support's.

    The stem and layers 1-3 start as a copy of `backbone` (the backbone itself is never changed). With
    `freeze_backbone` they stay fixed, BN statistics included, and only the transformers and heads learn;
    the reference fine-tunes them too (the default).
    """

    def __init__(
        self,
        backbone: ResNetBackbone,
        image_size: int,
        mode: StnMode = "rotation_scale",
        freeze_backbone: bool = False,
    ):
        super().__init__()
        source = copy.deepcopy(backbone)
        self.stem = nn.Sequential(source.conv1, source.bn1, source.relu, source.maxpool)
        self.layers = nn.ModuleList(getattr(source, name) for name in REGISTERED_LAYERS)
        size = pooled_size(pooled_size(image_size))  # after conv1 and the max-pool: layer 1's side
        transformers = []
        for index, name in enumerate(REGISTERED_LAYERS):
            size = size if index == 0 else pooled_size(size)
            transformers.append(SpatialTransformer(backbone.channels[name], size, mode))
        self.transformers = nn.ModuleList(transformers)
        width = backbone.channels["layer3"]
        self.projector, self.predictor = Projector(width), Predictor(width)
        self.freeze_backbone = freeze_backbone
        self.channels = [backbone.channels[name] for name in REGISTERED_LAYERS]
        self.stem.requires_grad_(not freeze_backbone)  # the copy of a frozen backbone is frozen too
        self.layers.requires_grad_(not freeze_backbone)

    def train(self, mode: bool = True) -> FeatureRegistration:
        super().train(mode)
        if self.freeze_backbone:  # frozen layers keep their BN statistics too
            self.stem.eval()
            self.layers.eval()
        return self

    def encode(self, images: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Normalised images (B, 3, H, W) -> (each layer's registered maps, each transformer's theta)."""
        x = self.stem(images)
        maps, thetas = [], []
        for layer, transformer in zip(self.layers, self.transformers, strict=True):
            x, theta = transformer(layer(x))
            maps.append(x)
            thetas.append(theta)  # (B, 2, 3)
        return maps, thetas

    def forward(self, images: Tensor) -> Tensor:
        """Normalised images (B, 3, H, W) -> registered layer-3 features (B, C3, h3, w3)."""
        return self.encode(images)[0][-1]

    def pair_loss(self, query: Tensor, support: Tensor) -> Tensor:
        """query (B, 3, H, W), support (B, K, 3, H, W) -> the symmetric loss between each query's features
        and the mean of its K supports' (query and support run as two batches, as the reference does)."""
        batch, shots = support.shape[:2]
        query_features = self(query)  # (B, C, h, w)
        support_features = self(support.flatten(0, 1))  # (B K, C, h, w)
        support_features = support_features.view(batch, shots, *support_features.shape[1:]).mean(dim=1)
        z1, z2 = self.projector(query_features), self.projector(support_features)
        return symmetric_loss(self.predictor(z1), z1, self.predictor(z2), z2)

    @torch.no_grad()
    def registered_features(self, images: Tensor) -> list[Tensor]:
        """Normalised images -> layers 1-3 registered, then warped back to the image frame by the inverse
        transforms of every transformer up to that layer, last one first (the reference's stn*_output)."""
        maps, thetas = self.encode(images)
        inverses = [invert(theta) for theta in thetas]
        back = []
        for index, features in enumerate(maps):
            for inverse in reversed(inverses[: index + 1]):
                features = warp(features, inverse)
            back.append(features)  # (B, C_l, h_l, w_l)
        return back
