"""NSA pretraining: segment Poisson-blended patches of other images, against NSA's logistic label."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator
from torch import Tensor, nn

from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.augment import normalize
from ab_core.data.nsa import nsa_anomalies
from ab_core.models.backbone import LAYERS, ResNetBackbone, build_backbone
from ab_core.params import StrictModel
from ab_core.registry import register

LayerName = Literal["layer1", "layer2", "layer3", "layer4"]
DEFAULT_LAYERS: list[LayerName] = ["layer1", "layer2", "layer3"]


class NSAParams(StrictModel):
    method: Literal["nsa"] = "nsa"
    gradients: Literal["source", "mixed"] = Field(
        "source", description="Poisson guidance: the patch's gradients (NORMAL_CLONE, the paper's objects) "
        "or the stronger of patch and destination per pixel (MIXED_CLONE, its textures)"
    )
    width_bounds: tuple[float, float] = Field(
        (0.03, 0.4), description="patch half-width as a fraction of the image side, low and high (MVTec's)"
    )
    logistic_k: float = Field(
        1 / 6, gt=0.0, le=10.0, description="k of the label 1 / (1 + exp(-k (intensity - x0))), 0-255 units"
    )
    logistic_x0: float = Field(20.0, ge=0.0, le=255.0, description="x0 of the logistic label, 0-255 units")
    tol: float = Field(1.0, ge=0.0, le=255.0, description="mean absolute change a pixel needs to be labelled")
    patches: int = Field(
        3, ge=1, le=8, description="most patches per image: the first always, each further on a coin flip "
        "(the authors' 3 for MVTec objects, 4 for textures)"
    )
    erosion: int = Field(
        3, ge=0, le=32, description="pixels at the blended region's edge still guided by the destination "
        "(OpenCV's seamlessClone, which NSA's code calls, erodes its mask 3 times; 0 = Pérez's cloning)"
    )
    layers: list[LayerName] = Field(
        default_factory=lambda: list(DEFAULT_LAYERS),
        min_length=1,
        max_length=4,
        description="feature layers the mask head reads, upsampled to the shallowest and concatenated",
    )
    hidden_dim: int = Field(128, ge=8, le=4096, description="width of the mask head's hidden 3x3 conv")

    @field_validator("layers")
    @classmethod
    def _distinct_in_depth_order(cls, layers: list[LayerName]) -> list[LayerName]:
        if len(set(layers)) != len(layers):
            raise ValueError(f"layers {layers} repeat a layer; give each of {', '.join(LAYERS)} at most once")
        return sorted(layers, key=LAYERS.index)

    @model_validator(mode="after")
    def _bounds(self) -> NSAParams:
        low, high = self.width_bounds
        if not 0.0 < low <= high <= 0.5:
            raise ValueError(f"width_bounds: {list(self.width_bounds)} must be 0 < low <= high <= 0.5")
        return self


class MaskHead(nn.Module):
    """Per-pixel anomaly logits from backbone taps: upsample to the shallowest tap, concatenate,
    3x3 conv - BN - ReLU - 1x1 conv. {layer: (B, C_l, h_l, w_l)} -> (B, 1, h_0, w_0)."""

    def __init__(self, in_channels: int, hidden_dim: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, hidden_dim, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden_dim, 1, 1),
        )

    def forward(self, taps: list[Tensor]) -> Tensor:
        size = taps[0].shape[-2:]
        upsampled = [t if t.shape[-2:] == size else F.interpolate(t, size, mode="bilinear") for t in taps]
        return self.layers(torch.cat(upsampled, dim=1))


class NSAPretrainer(Pretrainer):
    """NSA (Schlüter et al., "Natural Synthetic Anomalies for Self-Supervised Anomaly Detection and
    Localization", ECCV 2022): "NSA integrates Poisson image editing to seamlessly blend scaled patches
    of various sizes from separate images"; the network predicts the "logistic" label, a scaled sigmoid
    of the blend's intensity change, pixel by pixel with binary cross-entropy. NSA trains an
    encoder-decoder; here a small head over the backbone's taps, its logits upsampled to the image."""

    backbone: ResNetBackbone

    def __init__(self, params: NSAParams, ctx: BuildContext):
        super().__init__()
        self.params = params
        self.mean, self.std = ctx.data.mean, ctx.data.std
        self.backbone = build_backbone(ctx.backbone)
        deepest = LAYERS.index(params.layers[-1])
        for unused in LAYERS[deepest + 1 :]:  # layers past the deepest read get no gradient: freeze them
            getattr(self.backbone, unused).requires_grad_(False)
        channels = sum(self.backbone.channels[name] for name in params.layers)
        self.head = MaskHead(channels, params.hidden_dim)
        self._last: tuple[Tensor, Tensor] | None = None  # (logits, target) of the last step, detached

    def synthesize(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 (B, 3, H, W) -> NSA copies uint8 (B, 3, H, W) and their float (B, 1, H, W) labels."""
        p = self.params
        with torch.no_grad(), torch.autocast(images.device.type, enabled=False):  # exact blends under bf16
            return nsa_anomalies(
                images, p.width_bounds, p.gradients, p.logistic_k, p.logistic_x0, p.tol, p.erosion, p.patches
            )

    def training_step(self, batch: Batch) -> Tensor:
        blended, target = self.synthesize(batch.images)
        taps = self.backbone.features(normalize(blended, self.mean, self.std), self.params.layers)
        logits = self.head([taps[name] for name in self.params.layers])  # (B, 1, H/4, W/4) at layer1
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear")  # (B, 1, H, W)
        self._last = (logits.detach(), target)
        return F.binary_cross_entropy_with_logits(logits.float(), target)

    def step_metrics(self) -> dict[str, float]:
        if self._last is None:
            return {}
        logits, target = self._last
        return {"target_mean": target.mean().item(), "predicted_mean": torch.sigmoid(logits).mean().item()}

    def head_state(self) -> dict[str, Tensor]:
        return {f"head.{k}": v for k, v in self.head.state_dict().items()}


@register("pretrain", NSAParams, "NSA: segment Poisson-blended patches of other images (logistic label, BCE)",
          metrics=("target_mean", "predicted_mean"))
def build(params: NSAParams, ctx: BuildContext) -> NSAPretrainer:
    return NSAPretrainer(params, ctx)
