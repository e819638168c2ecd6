"""`cflow` evaluator: CFlow-AD, one conditional normalising flow per encoder layer, likelihood maps."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, cast

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import Tensor, nn

from ab_core.components.anomaly_map import image_scores
from ab_core.components.encoder import (
    FORWARD_CHUNK,
    PreparedBatches,
    channels_last,
    frozen_backbone,
    prepare,
    to_nhwc,
)
from ab_core.components.feature_cache import FEATURE_CACHE_MB, FeaturePlan, plan_epochs
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
        self.encoder = channels_last(encoder.requires_grad_(False).eval())  # NHWC: faster on CPU, same values
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
        """Normalised images (B, 3, H, W) -> each layer's feature map (B, C_l, h_l, w_l), FORWARD_CHUNK
        images at a time (the encoder's activations stay those of a few images whatever B is)."""
        parts = [self.encoder.features(to_nhwc(part), self.layers)  # NHWC maps: `fibers` is then a view
                 for part in images.split(FORWARD_CHUNK)]
        return [parts[0][name] if len(parts) == 1 else torch.cat([part[name] for part in parts])
                for name in self.layers]

    def encoding(self, height: int, width: int, device: torch.device) -> Tensor:
        """(h w, P): the positional encoding of each position, row-major, cached per map size."""
        key = (height, width, str(device))
        if key not in self._encodings:
            pe = positional_encoding_2d(self.condition, height, width)  # (P, h, w)
            self._encodings[key] = pe.flatten(1).T.contiguous().to(device)
        return self._encodings[key]

    def encoding_factors(self, height: int, width: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """The encoding in its two factors, (w, P/2) of each column and (h, P/2) of each row: the
        encoding of (y, x) is [columns[x], rows[y]] (its first half encodes x, its second y)."""
        key = (height, width, str(device) + ":factors")
        if key not in self._encodings:
            pe = positional_encoding_2d(self.condition, height, width)  # (P, h, w)
            half = self.condition // 2
            self._encodings[key] = torch.cat([pe[:half, 0, :].T, pe[half:, :, 0].T]).to(device)
        return cast(tuple[Tensor, Tensor], torch.split(self._encodings[key], [width, height]))

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
            # each block's condition term once per position (h w, 2 C1); fiber i sits at i mod h w
            tables = flow.project_conditions(self.encoding(height, width, images.device))
            position = torch.arange(e.shape[0], device=images.device) % (height * width)  # (E,)
            ll = torch.cat([flow.log_likelihood_projected(e[i : i + SCORE_CHUNK], tables,
                                                          position[i : i + SCORE_CHUNK])
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


class CflowEvaluator:
    """Trains one flow per layer by maximum likelihood on random batches of fibers, then scores.

    Per training batch and layer, as the reference: its B h w fibers in a random order, split into
    E // N batches of N (the remainder joins the last; one batch when E < N), one Adam step each on
    -log sigmoid(log p / C). `fit` iterates `batches` once per epoch; `on_epoch(epoch, mean_loss)` is
    called after each epoch when set. Adam is the fused kernel: the same update in one pass.

    The flows are independent (one optimiser each) and the encoder is frozen, so when the training
    features fit in FEATURE_CACHE_MB they are computed once per image (`plan_epochs`: each epoch's
    batches, however the loader reshuffles them, become rows of one store) and each flow is trained
    through all its epochs before the next, the largest first: the same steps on the same fibers in
    the same order (the permutations are replayed from the same generator), with one flow's Adam
    moments alive at a time instead of all. `on_epoch` is then called for each epoch after training.
    """

    def __init__(self, model: CflowModel, params: CflowParams, ctx: BuildContext):
        self.model, self.params, self.ctx = model, params, ctx
        self.generator = torch.Generator().manual_seed(ctx.seed)  # the fiber order of each step
        self.on_epoch: Callable[[int, float], None] | None = None

    def fit(self, batches: Iterable[Batch]) -> None:
        self.fit_images(PreparedBatches(batches, self.ctx))

    def fit_images(self, batches: Iterable[Tensor], cache_mb: float = FEATURE_CACHE_MB) -> None:
        """`fit` on batches of normalised images (B, 3, H, W), iterated once per epoch."""
        self.model.train()
        epochs = self.params.epochs
        cached = plan_epochs(self.model.features, batches, epochs, cache_mb) if cache_mb > 0 else None
        losses = self._fit_joint(batches) if cached is None else self._fit_layer_by_layer(cached)
        for epoch, (total, count) in enumerate(losses):
            if count == 0:
                raise DataError("CFlow got no training images to fit")
            if self.on_epoch is not None:
                self.on_epoch(epoch, total / count)
        self.model.eval()

    def _optimizer(self, flow: ConditionalFlow) -> torch.optim.Optimizer:
        return torch.optim.Adam(flow.parameters(), lr=self.params.lr,
                                fused=self.ctx.device.type in ("cpu", "cuda"))

    def _fit_joint(self, batches: Iterable[Tensor]) -> list[tuple[float, int]]:
        """Every epoch: each batch's features, then one pass of every flow -> per epoch (loss sum, count)."""
        optimizers = [self._optimizer(flow) for flow in self.model.flows()]
        losses, tops = [], []
        for _ in range(self.params.epochs):
            total, count = 0.0, 0
            tops = [_minus_inf() for _ in self.model.layers]  # per layer, the last epoch's largest ll
            for images in batches:
                features = self.model.features(images)
                for index, (flow, feature) in enumerate(zip(self.model.flows(), features, strict=True)):
                    order = torch.randperm(feature[:, 0].numel(), generator=self.generator)
                    loss_sum, top = self._train_layer(flow, optimizers[index], feature, order)
                    total, count = total + float(loss_sum), count + feature[:, 0].numel()
                    tops[index] = torch.maximum(tops[index], top)
            losses.append((total, count))
        self.model.ll_max = torch.stack(tops)
        return losses

    def _fit_layer_by_layer(self, cached: FeaturePlan) -> list[tuple[float, int]]:
        """`_fit_joint` on cached features, one flow at a time through all epochs: the same steps."""
        store, plan = cached
        layers = len(self.model.layers)
        start = self.generator.get_state()
        sums = [[[0.0] * layers for _ in epoch] for epoch in plan]  # the joint loop's terms
        tops: dict[int, Tensor] = {}
        flows = self.model.flows()
        # the largest flow first: each later (smaller) Adam state fits in the memory the last one freed
        for index in sorted(range(layers), key=lambda i: -sum(p.numel() for p in flows[i].parameters())):
            flow = flows[index]
            optimizer = self._optimizer(flow)  # the last flow's (and its moments) freed here
            self.generator.set_state(start)
            top = _minus_inf()
            for epoch, batch_rows in enumerate(plan):
                top = _minus_inf()
                for b, rows in enumerate(batch_rows):
                    # replay the joint loop's draws: every layer's order of this batch, keep this one's
                    orders = [torch.randperm(rows.numel() * f[0, 0].numel(), generator=self.generator)
                              for f in store]
                    feature = store[index].index_select(0, rows)  # (B, C, h, w)
                    loss_sum, step_top = self._train_layer(flow, optimizer, feature, orders[index])
                    sums[epoch][b][index], top = float(loss_sum), torch.maximum(top, step_top)
            tops[index] = top
        self.model.ll_max = torch.stack([tops[index] for index in range(layers)])
        # summed in the joint loop's order (batch-major), so the reported losses are the same floats
        losses = []
        for epoch, batch_rows in enumerate(plan):
            total, count = 0.0, 0
            for b, rows in enumerate(batch_rows):
                for index in range(layers):
                    total += sums[epoch][b][index]
                    count += rows.numel() * store[index][0, 0].numel()
            losses.append((total, count))
        return losses

    def _train_layer(self, flow: ConditionalFlow, optimizer: torch.optim.Optimizer,
                     feature: Tensor, order: Tensor) -> tuple[Tensor, Tensor]:
        """One pass over the fibers of one layer's (B, C, h, w) map in `order` (E,) -> (sum of
        losses, largest ll)."""
        _, _, height, width = feature.shape
        e = CflowModel.fibers(feature)  # (E, C)
        columns, rows = self.model.encoding_factors(height, width, feature.device)  # (w, P/2), (h, P/2)
        order = order.to(feature.device)
        size = self.params.fiber_batch_size
        steps = max(e.shape[0] // size, 1)
        total, top = feature.new_zeros(()), feature.new_full((), -torch.inf)
        for step in range(steps):
            idx = order[step * size : (step + 1) * size if step < steps - 1 else None]
            where = idx % (height * width)  # fiber i sits at position i mod h w, (y, x) row-major
            ll = flow.log_likelihood_per_dim(e[idx], (columns, rows), (where % width, where // width))  # (N,)
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


def _minus_inf() -> Tensor:
    return torch.tensor(-torch.inf)


@register("evaluate", CflowParams, "CFlow-AD: conditional normalising flows on layer 2-4 features, "
          "likelihood maps")
def build(params: CflowParams, ctx: BuildContext) -> CflowEvaluator:
    model = CflowModel(frozen_backbone(ctx), params, ctx.seed)
    return CflowEvaluator(model.to(ctx.device), params, ctx)
