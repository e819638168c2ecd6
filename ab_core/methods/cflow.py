"""`cflow` evaluator: CFlow-AD, one conditional normalising flow per encoder layer, likelihood maps."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Literal, cast

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import Tensor, nn

from ab_core.components.anomaly_map import image_scores
from ab_core.components.encoder import frozen_backbone, prepare
from ab_core.components.flows import ConditionalFlow
from ab_core.components.positional_encoding import positional_encoding_2d
from ab_core.contracts import Batch, BuildContext
from ab_core.errors import DataError
from ab_core.models.backbone import LAYERS, ResNetBackbone
from ab_core.params import StrictModel
from ab_core.registry import register

LayerName = Literal["layer1", "layer2", "layer3", "layer4"]
# the paper's L = 3 pooling layers: the official code and anomalib's Cflow tap layer2-4 of every ResNet
CFLOW_LAYERS: list[LayerName] = ["layer2", "layer3", "layer4"]
SCORE_CHUNK = 256  # fibers per flow pass at test time: cache-sized (faster than larger), same result


class CflowParams(StrictModel):
    method: Literal["cflow"] = "cflow"
    layers: list[LayerName] = Field(default_factory=lambda: list(CFLOW_LAYERS), min_length=1, max_length=4,
                                    description="encoder layers, one flow each (paper / anomalib: layer2-4)")
    epochs: int = Field(50, ge=1, le=10_000, description="passes over the normal training images")
    lr: float = Field(1e-4, gt=0, le=1, description="Adam learning rate (anomalib's Cflow default)")
    fiber_batch_size: int = Field(64, ge=1, le=65_536, description="feature vectors per optimiser step (N)")
    condition_vector: int = Field(128, ge=4, le=1024, description="positional encoding length (x 4)")
    coupling_blocks: int = Field(8, ge=1, le=64, description="coupling blocks per flow")
    clamp: float = Field(1.9, gt=0, le=10, description="soft clamp alpha of the log scales: alpha tanh(s)")

    @field_validator("layers")
    @classmethod
    def _distinct_in_depth_order(cls, layers: list[LayerName]) -> list[LayerName]:
        if len(set(layers)) != len(layers):
            raise ValueError(f"layers {layers} repeat a layer; give each of {', '.join(LAYERS)} at most once")
        return sorted(layers, key=LAYERS.index)

    @field_validator("condition_vector")
    @classmethod
    def _multiple_of_four(cls, length: int) -> int:
        if length % 4:
            raise ValueError(f"condition_vector {length} is not a multiple of 4 (sin and cos of x and y)")
        return length


class CflowModel(nn.Module):
    """CFlow-AD (Gudovskiy, Ishizaka & Kozuka, WACV 2022): "a discriminatively pretrained encoder
    followed by a multi-scale generative decoders where the latter explicitly estimate likelihood of
    the encoded features" with "conditional normalizing flows ... conditioned on positional encoding".

    The encoder is the backbone under evaluation, frozen and in eval mode whatever `train()` is given.
    `ll_max[l]` is the largest per-dim log-likelihood of layer l's training fibers in the last epoch
    (each as its training step scored it): the reference subtracts the whole test set's maximum
    before exp(), which a scorer that sees one batch at a time cannot know; this fixed constant takes
    its place, so that a score does not depend on the other images of its batch.
    """

    ll_max: Tensor | None

    def __init__(self, encoder: ResNetBackbone, params: CflowParams, seed: int):
        super().__init__()
        self.encoder = encoder.requires_grad_(False).eval()
        self.layers = tuple(params.layers)
        self.condition = params.condition_vector
        generator = torch.Generator().manual_seed(seed)  # the flows' fixed channel permutations
        self.decoders = nn.ModuleList(
            ConditionalFlow(encoder.channels[name], params.condition_vector, params.coupling_blocks,
                            params.clamp, generator)
            for name in self.layers
        )
        self.register_buffer("ll_max", None)  # (L,) once fitted
        self._encodings: dict[tuple[int, int, str], Tensor] = {}

    def flows(self) -> list[ConditionalFlow]:
        return cast(list[ConditionalFlow], list(self.decoders))

    def train(self, mode: bool = True) -> CflowModel:
        super().train(mode)
        self.encoder.eval()  # BN statistics of the backbone under evaluation never move
        return self

    @torch.no_grad()
    def features(self, images: Tensor) -> list[Tensor]:
        """Normalised images (B, 3, H, W) -> each layer's feature map (B, C_l, h_l, w_l)."""
        maps = self.encoder.features(images, self.layers)
        return [maps[name] for name in self.layers]

    def encoding(self, height: int, width: int, device: torch.device) -> Tensor:
        """(h w, P): the positional encoding of each position, row-major, cached per map size."""
        key = (height, width, str(device))
        if key not in self._encodings:
            pe = positional_encoding_2d(self.condition, height, width)  # (P, h, w)
            self._encodings[key] = pe.flatten(1).T.contiguous().to(device)
        return self._encodings[key]

    @staticmethod
    def fibers(feature: Tensor) -> Tensor:
        """(B, C, h, w) -> (B h w, C): one row per feature vector, ordered (b, y, x)."""
        return feature.permute(0, 2, 3, 1).reshape(-1, feature.shape[1])

    @torch.no_grad()
    def log_likelihoods(self, images: Tensor) -> list[Tensor]:
        """Normalised images (B, 3, H, W) -> per-dim log p(feature | position) maps (B, h_l, w_l)."""
        out = []
        for flow, feature in zip(self.flows(), self.features(images), strict=True):
            batch, _, height, width = feature.shape
            e = self.fibers(feature)  # (E, C)
            c = self.encoding(height, width, images.device).repeat(batch, 1)  # (E, P)
            ll = torch.cat([flow.log_likelihood_per_dim(e[i : i + SCORE_CHUNK], c[i : i + SCORE_CHUNK])
                            for i in range(0, e.shape[0], SCORE_CHUNK)])
            out.append(ll.reshape(batch, height, width))
        return out

    @torch.no_grad()
    def anomaly_maps(self, images: Tensor) -> Tensor:
        """Normalised images (B, 3, H, W) -> anomaly maps (B, 1, H, W): L - sum_l up(exp(ll_l - ll_max_l)).

        As the reference: each layer's likelihoods become probabilities exp(ll - max) in (0, 1],
        are upsampled bilinearly (align_corners) to the image, summed, and inverted to a score.
        """
        if self.ll_max is None:
            raise RuntimeError("CflowModel scored before it was fitted: fit it on normal images first")
        size = images.shape[-2:]
        total = images.new_zeros(images.shape[0], 1, *size)
        for ll, top in zip(self.log_likelihoods(images), self.ll_max, strict=True):
            probability = torch.exp(ll - top).unsqueeze(1)  # (B, 1, h, w)
            total += F.interpolate(probability, size=size, mode="bilinear", align_corners=True)
        return len(self.layers) - total


class _Normalised:
    """The loader's batches as normalised images on the device, again on each iteration (epoch)."""

    def __init__(self, batches: Iterable[Batch], ctx: BuildContext):
        self.batches, self.ctx = batches, ctx

    def __iter__(self) -> Iterator[Tensor]:
        return (prepare(batch.images, self.ctx) for batch in self.batches)


class CflowEvaluator:
    """Trains one flow per layer by maximum likelihood on random batches of fibers, then scores.

    Per training batch and layer, as the reference: its B h w fibers in a random order, split into
    E // N batches of N (the remainder joins the last; one batch when E < N), one Adam step each on
    -log sigmoid(log p / C). `fit` iterates `batches` once per epoch; `on_epoch(epoch, mean_loss)` is
    called after each epoch when set. Adam is the fused kernel: the same update in one pass.
    """

    def __init__(self, model: CflowModel, params: CflowParams, ctx: BuildContext):
        self.model, self.params, self.ctx = model, params, ctx
        self.generator = torch.Generator().manual_seed(ctx.seed)  # the fiber order of each step
        self.on_epoch: Callable[[int, float], None] | None = None

    def fit(self, batches: Iterable[Batch]) -> None:
        self.fit_images(_Normalised(batches, self.ctx))

    def fit_images(self, batches: Iterable[Tensor]) -> None:
        """`fit` on batches of normalised images (B, 3, H, W), iterated once per epoch."""
        fused = self.ctx.device.type in ("cpu", "cuda")
        optimizers = [torch.optim.Adam(flow.parameters(), lr=self.params.lr, fused=fused)
                      for flow in self.model.flows()]
        self.model.train()
        for epoch in range(self.params.epochs):
            total, count = 0.0, 0
            tops: list[list[Tensor]] = [[] for _ in self.model.layers]  # per layer, each step's max ll
            for images in batches:
                features = self.model.features(images)
                for index, (flow, feature) in enumerate(zip(self.model.flows(), features, strict=True)):
                    loss_sum, top = self._train_layer(flow, optimizers[index], feature)
                    total, count = total + float(loss_sum), count + feature[:, 0].numel()
                    tops[index].append(top)
            if count == 0:
                raise DataError("CFlow got no training images to fit")
            if self.on_epoch is not None:
                self.on_epoch(epoch, total / count)
        self.model.ll_max = torch.stack([torch.stack(layer).amax() for layer in tops])  # the last epoch's
        self.model.eval()

    def _train_layer(self, flow: ConditionalFlow, optimizer: torch.optim.Optimizer,
                     feature: Tensor) -> tuple[Tensor, Tensor]:
        """One pass over the fibers of one layer's (B, C, h, w) map -> (sum of losses, largest ll)."""
        _, _, height, width = feature.shape
        e = CflowModel.fibers(feature)  # (E, C)
        c = self.model.encoding(height, width, feature.device)  # (h w, P): fiber i sits at i mod h w
        order = torch.randperm(e.shape[0], generator=self.generator).to(feature.device)
        size = self.params.fiber_batch_size
        steps = max(e.shape[0] // size, 1)
        total, top = feature.new_zeros(()), feature.new_full((), -torch.inf)
        for step in range(steps):
            idx = order[step * size : (step + 1) * size if step < steps - 1 else None]
            ll = flow.log_likelihood_per_dim(e[idx], c[idx % (height * width)])  # (N,) log p / C
            loss = -F.logsigmoid(ll)
            loss.mean().backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)  # after the step: one flow's gradients alive at a time
            total, top = total + loss.detach().sum(), torch.maximum(top, ll.detach().max())
        return total, top

    def score(self, batch: Batch) -> dict[str, Tensor]:
        self.model.eval()
        maps = self.model.anomaly_maps(prepare(batch.images, self.ctx))
        return {"image_score": image_scores(maps), "anomaly_map": maps}


@register("evaluate", CflowParams, "CFlow-AD: conditional normalising flows on layer 2-4 features, "
          "likelihood maps")
def build(params: CflowParams, ctx: BuildContext) -> CflowEvaluator:
    model = CflowModel(frozen_backbone(ctx), params, ctx.seed)
    return CflowEvaluator(model.to(ctx.device), params, ctx)
