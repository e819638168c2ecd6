"""The frozen encoder every evaluator starts from: weights source, eval mode, and the spec's preprocessing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
from torch import Tensor

from ab_core.contracts import Batch, BuildContext
from ab_core.data.augment import normalize
from ab_core.models.backbone import ResNetBackbone, build_backbone


def frozen_backbone(ctx: BuildContext) -> ResNetBackbone:
    """The spec's backbone (weights 'none' | 'imagenet' | checkpoint dir), frozen and in eval mode.

    Seam: once the service exists, a job id given as `weights` resolves to that job's final checkpoint
    directory here, before `build_backbone` reads it.
    """
    backbone = build_backbone(ctx.backbone)
    backbone.requires_grad_(False)
    return backbone.eval().to(ctx.device)


def prepare(images: Tensor, ctx: BuildContext) -> Tensor:
    """uint8 (B, 3, H, W) from a loader -> normalised float (B, 3, H, W) on the evaluator's device."""
    return normalize(images.to(ctx.device, non_blocking=True), ctx.data.mean, ctx.data.std)


class PreparedBatches:
    """The loader's batches `prepare`d, again on each iteration (epoch); those under `min_images` left out
    (2 for a student with BatchNorm, which cannot train on one image)."""

    def __init__(self, batches: Iterable[Batch], ctx: BuildContext, min_images: int = 1):
        self.batches, self.ctx, self.min_images = batches, ctx, min_images

    def __iter__(self) -> Iterator[Tensor]:
        return (prepare(b.images, self.ctx) for b in self.batches if b.images.shape[0] >= self.min_images)


def state_snapshot(module: torch.nn.Module) -> dict[str, Tensor]:
    """A detached copy of every parameter and buffer, to prove later that nothing changed."""
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def changed_entries(module: torch.nn.Module, snapshot: dict[str, Tensor]) -> list[str]:
    """Names of the parameters / buffers that differ (bit for bit) from `snapshot`."""
    return [name for name, value in module.state_dict().items() if not torch.equal(value, snapshot[name])]


FORWARD_CHUNK = 8  # images per frozen-backbone pass: activations stay small whatever the batch size


def channels_last(backbone: ResNetBackbone) -> ResNetBackbone:
    """The backbone with NHWC weights: oneDNN's faster CPU convolutions (1.5x for ResNet-18 at 96 px
    here), the same values to float rounding. Its callers must feed NHWC images (`to_nhwc`) and must
    not `.view` its feature maps (they are NHWC too; `reshape` works)."""
    return backbone.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def to_nhwc(images: Tensor) -> Tensor:
    return images.contiguous(memory_format=torch.channels_last)


def in_chunks(embed: Callable[[Tensor], Tensor], images: Tensor, chunk: int = FORWARD_CHUNK) -> Tensor:
    """`embed` of (B, 3, H, W) images `chunk` at a time, joined along the batch: the same result for a
    frozen, eval-mode encoder, with the activation memory of `chunk` images instead of B."""
    if images.shape[0] <= chunk:
        return embed(images)
    return torch.cat([embed(part) for part in images.split(chunk)])
