"""`rd4ad` evaluator: reverse distillation from the frozen backbone into a bottleneck + mirrored decoder."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ab_core.components.anomaly_map import gaussian_blur, image_scores
from ab_core.components.encoder import (
    PreparedBatches,
    channels_last,
    frozen_backbone,
    in_chunks,
    prepare,
    to_nhwc,
)
from ab_core.components.feature_cache import FEATURE_CACHE_MB, plan_epochs
from ab_core.components.low_precision import native_bf16, with_cast_weights
from ab_core.components.optim import AdamInBackward
from ab_core.components.reverse_distillation import DECODER_BLOCKS, MirroredDecoder, OneClassBottleneck
from ab_core.contracts import Batch, BuildContext
from ab_core.errors import DataError, SpecError
from ab_core.models.backbone import ResNetBackbone
from ab_core.params import StrictModel
from ab_core.registry import register

TEACHER_LAYERS = ("layer1", "layer2", "layer3")


class Rd4adParams(StrictModel):
    method: Literal["rd4ad"] = "rd4ad"
    epochs: int = Field(200, ge=1, le=10_000, description="passes over the normal training images")
    lr: float = Field(0.005, gt=0, le=1, description="Adam, betas (0.5, 0.999) as in the paper")
    blur_sigma: float = Field(4.0, ge=0, le=32)
    precision: Literal["float32", "bfloat16"] = Field(
        "float32", description="bfloat16: teacher, bottleneck and decoder under bf16 autocast (AVX-512 BF16, "
        "AMX CPUs, GPUs: about 1.8x faster, 0.6x the memory; refused where bf16 is emulated), loss and maps "
        "in float32; its training follows another path than float32's (image AUROC up to 0.09 apart on a "
        "category), so compare backbones at one precision"
    )


def _flat(maps: Tensor) -> Tensor:
    """(B, C, h, w) -> (B, C*h*w) in memory order: a view for NCHW and NHWC alike (a cosine over all
    of a map's values does not depend on their order, beyond float rounding)."""
    if maps.dim() == 4 and not maps.is_contiguous() and maps.is_contiguous(memory_format=torch.channels_last):
        return maps.permute(0, 2, 3, 1).flatten(1)
    return maps.flatten(1)


def cosine_distance_loss(teacher: list[Tensor], student: list[Tensor]) -> Tensor:
    """Sum over layers of the batch mean of 1 - cos(teacher map, student map), each map flattened;
    float32 whatever the maps' precision."""
    loss = teacher[0].new_zeros((), dtype=torch.float32)
    for t, s in zip(teacher, student, strict=True):
        if s.dtype == torch.float32 or t.requires_grad:
            loss = loss + (1 - F.cosine_similarity(_flat(t).float(), _flat(s).float(), dim=1)).mean()
        else:  # bf16 maps: no float32 copies kept for backward
            loss = loss + _LowPrecisionCosineDistance.apply(_flat(t), _flat(s))
    return loss


class _LowPrecisionCosineDistance(torch.autograd.Function):
    """mean_b(1 - cos(t_b, s_b)) of (B, N) bf16 maps in float32, as F.cosine_similarity computes it, with
    the student's gradient formed in the forward pass and kept in the maps' precision: what autograd
    would keep is float32 copies of both maps (twice their bf16 size each), and its gradient reaching the
    bf16 student is rounded to bf16 all the same. The teacher takes no gradient.
    d cos / ds = t / (|t| |s|) - cos * s / |s|^2."""

    EPS = 1e-8  # F.cosine_similarity's
    CHUNK = 2**18  # values per float32 temporary: rows are taken a few at a time, so none is map-sized

    @staticmethod
    def forward(ctx: Any, teacher: Tensor, student: Tensor) -> Tensor:
        eps = _LowPrecisionCosineDistance.EPS
        rows = max(1, _LowPrecisionCosineDistance.CHUNK // student.shape[1])  # rows per float32 temporary
        grad, cos = torch.empty_like(student), student.new_empty(student.shape[0], dtype=torch.float32)
        parts = zip(teacher.split(rows), student.split(rows), cos.split(rows), grad.split(rows), strict=True)
        for t, s, c, g in parts:
            t, s = t.float(), s.float()
            tt, ss = t.square().sum(1), s.square().sum(1)  # (rows,)
            norms = torch.sqrt(torch.clamp_min(tt * ss, eps**2))
            c.copy_(torch.linalg.vecdot(t, s, dim=1) / norms)
            part = (c / ss.clamp_min(eps**2)).unsqueeze(1) * s  # an all-zero student map: cos 0, no 0 / 0
            part -= t / norms.unsqueeze(1)
            g.copy_(part.div_(student.shape[0]))
        ctx.save_for_backward(grad)
        return (1 - cos).mean()

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[None, Tensor]:
        (grad,) = ctx.saved_tensors
        return None, grad * upstream.to(grad.dtype)


def adam(model: ReverseDistillation, lr: float) -> AdamInBackward:
    """The paper's Adam (betas 0.5, 0.999) on the bottleneck and decoder, stepped inside backward."""
    return AdamInBackward(model.trainable_parameters(), lr=lr, betas=(0.5, 0.999))


def train_step(model: ReverseDistillation, teacher: list[Tensor]) -> float:
    """One step on the teacher's maps of a batch (B >= 2): student, loss, backward (Adam steps within)."""
    loss = cosine_distance_loss(teacher, model.student_maps(teacher))
    loss.backward()
    return loss.item()


class ReverseDistillation(nn.Module):
    """RD4AD (Deng & Li 2022): "the student network takes teacher model's one-class embedding as input
    and targets to restore the teacher's multiscale representations".

    The teacher is the backbone under evaluation: frozen and kept in eval mode for the whole run,
    whatever `train()` is called with (its BN statistics must never move). Only the bottleneck and
    the decoder learn. The anomaly map sums each layer's per-pixel 1 - cos(teacher, student).
    All three run in channels_last (oneDNN's NHWC convolutions: faster on CPU, same values to float
    rounding); `forward` takes NCHW or NHWC images.
    """

    def __init__(self, teacher: ResNetBackbone, blur_sigma: float, bfloat16: bool = False):
        super().__init__()
        self.autocast_bf16 = bfloat16  # (not `bfloat16`: nn.Module.bfloat16() casts the weights)
        self.teacher = channels_last(teacher.requires_grad_(False).eval())
        self.bottleneck = OneClassBottleneck.for_arch(teacher.arch).to(memory_format=torch.channels_last)
        self.decoder = MirroredDecoder(teacher.arch).to(memory_format=torch.channels_last)
        self.blur_sigma = blur_sigma

    def train(self, mode: bool = True) -> ReverseDistillation:
        super().train(mode)
        self.teacher.eval()  # the seed's lesson: a teacher in train mode drifts its BN statistics
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [*self.bottleneck.parameters(), *self.decoder.parameters()]

    def forward(self, images: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Normalised images (B, 3, H, W) -> (teacher maps, student maps), layers 1-3 (bf16 when set)."""
        teacher = self.teacher_maps(images)
        return teacher, self.student_maps(teacher)

    def _autocast(self, device: torch.device) -> torch.autocast:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.autocast_bf16)

    @torch.no_grad()
    def teacher_maps(self, images: Tensor) -> list[Tensor]:
        """Normalised images (B, 3, H, W) -> the frozen teacher's layers 1-3, NHWC."""
        with self._autocast(images.device):
            features = self.teacher.features(to_nhwc(images), TEACHER_LAYERS)
        return [features[name] for name in TEACHER_LAYERS]

    def student_maps(self, teacher: list[Tensor]) -> list[Tensor]:
        """The teacher's maps -> the student's (bottleneck, then decoder), each the size of its teacher's."""
        with self._autocast(teacher[0].device):
            if self.autocast_bf16 and torch.is_grad_enabled():  # no bf16 weight copies kept for backward
                code = with_cast_weights(self.bottleneck, torch.bfloat16, *teacher)
                student = with_cast_weights(self.decoder, torch.bfloat16, code)
            else:
                student = self.decoder(self.bottleneck(*teacher))
        return [  # crops not divisible by 32 leave the decoder a pixel off: align to the teacher
            s if s.shape[-2:] == t.shape[-2:] else F.interpolate(s, size=t.shape[-2:], mode="bilinear")
            for t, s in zip(teacher, student, strict=True)
        ]

    @torch.no_grad()
    def anomaly_maps(self, images: Tensor) -> Tensor:
        """Normalised images (B, 3, H, W) -> anomaly maps (B, 1, H, W), `FORWARD_CHUNK` images at a time
        (eval mode: each image's map is its own, so chunks only bound the activation memory)."""
        return in_chunks(self._anomaly_maps, images)

    def _anomaly_maps(self, images: Tensor) -> Tensor:
        teacher, student = self(images)
        size = images.shape[-2:]
        maps = images.new_zeros(images.shape[0], 1, *size)
        for t, s in zip(teacher, student, strict=True):
            distance = 1 - F.cosine_similarity(t.float(), s.float(), dim=1).unsqueeze(1)  # (B, 1, h, w)
            # align_corners as the official code's cal_anomaly_map and anomalib's AnomalyMapGenerator
            maps += F.interpolate(distance, size=size, mode="bilinear", align_corners=True)
        return gaussian_blur(maps.contiguous(), self.blur_sigma)  # mirrored borders, as anomalib's blur


class Rd4adEvaluator:
    """Trains `ReverseDistillation` on normal batches for `epochs` passes, then scores test batches.

    `fit` iterates `batches` once per epoch, so give it a re-iterable (the runner's loader does a new
    shuffle each pass). The frozen teacher's maps of each training image are computed once and reused
    by every epoch while they fit in `FEATURE_CACHE_MB` (`plan_epochs`: each epoch's batches as the
    loader gave them, so the student's BatchNorm sees the same batches), else recomputed each epoch.
    `on_epoch(epoch, mean_loss)` is called after each epoch when set.
    """

    def __init__(self, model: ReverseDistillation, params: Rd4adParams, ctx: BuildContext):
        self.model, self.params, self.ctx = model, params, ctx
        self.on_epoch: Callable[[int, float], None] | None = None

    def fit(self, batches: Iterable[Batch]) -> None:
        self.fit_images(PreparedBatches(batches, self.ctx, min_images=2))  # BN

    def fit_images(self, batches: Iterable[Tensor], cache_mb: float = FEATURE_CACHE_MB) -> None:
        """`fit` on batches of normalised images (B >= 2, 3, H, W), iterated once per epoch."""
        optimizer = adam(self.model, self.params.lr)  # steps inside backward: no gradients kept
        self.model.train()
        try:
            passes = self.params.epochs
            cached = plan_epochs(self.model.teacher_maps, batches, passes, cache_mb) if cache_mb > 0 else None
            epochs = self._recomputed(batches) if cached is None else _replayed(*cached)
            for epoch, teachers in enumerate(epochs):
                losses = [train_step(self.model, teacher) for teacher in teachers]
                if not losses:
                    raise DataError("RD4AD needs at least 2 normal training images per batch; got none")
                if self.on_epoch is not None:
                    self.on_epoch(epoch, sum(losses) / len(losses))
        finally:
            optimizer.remove()
        self.model.eval()

    def _recomputed(self, batches: Iterable[Tensor]) -> Iterator[Iterator[list[Tensor]]]:
        return ((self.model.teacher_maps(images) for images in batches) for _ in range(self.params.epochs))

    def score(self, batch: Batch) -> dict[str, Tensor]:
        self.model.eval()
        maps = self.model.anomaly_maps(prepare(batch.images, self.ctx))
        return {"image_score": image_scores(maps), "anomaly_map": maps}


def _replayed(store: list[Tensor], plan: list[list[Tensor]]) -> Iterator[Iterator[list[Tensor]]]:
    """Per epoch, its batches' teacher maps read from the store, NHWC."""
    return (([to_nhwc(layer[rows]) for layer in store] for rows in epoch) for epoch in plan)


@register("evaluate", Rd4adParams, "RD4AD: reverse distillation into a one-class bottleneck and decoder",
          archs=tuple(DECODER_BLOCKS))
def build(params: Rd4adParams, ctx: BuildContext) -> Rd4adEvaluator:
    if params.precision == "bfloat16" and not native_bf16(ctx.device):
        raise SpecError([
            "method.precision: 'bfloat16' needs native bf16 (a CPU with AVX-512 BF16 or AMX, or a GPU); this "
            f"{ctx.device.type} emulates it, several times slower than float32 (7x on a 2-core EPYC without "
            "AVX-512): use 'float32'"
        ])
    model = ReverseDistillation(frozen_backbone(ctx), params.blur_sigma, params.precision == "bfloat16")
    return Rd4adEvaluator(model.to(ctx.device), params, ctx)
