"""`regad` evaluator: few-shot anomaly detection by feature registration (Huang et al., ECCV 2022)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from ab_core.components.anomaly_map import image_scores, to_image_size
from ab_core.components.encoder import frozen_backbone, prepare
from ab_core.components.gaussian import StreamingGaussian, mahalanobis
from ab_core.components.registration import FeatureRegistration
from ab_core.components.registration_training import (
    RegistrationTraining,
    read_registration,
    registration_file,
    save_registration,
)
from ab_core.components.spatial_transformer import StnMode
from ab_core.contracts import Batch, BuildContext
from ab_core.data.augment import normalize
from ab_core.data.episodes import seeded_generator, support_draw
from ab_core.data.loader import ImageDataset, categories, open_dataset
from ab_core.data.support_augment import support_views
from ab_core.errors import CheckpointError, DataError
from ab_core.models.backbone import ResNetBackbone
from ab_core.params import StrictModel
from ab_core.registry import register


class RegistrationJob(StrictModel):
    from_job: str = Field(min_length=1, max_length=64, description="a RegAD job of the service to reuse")
    path: str | None = Field(None, min_length=1, description="that job's output folder (the service sets it)")


class RegadParams(StrictModel):
    method: Literal["regad"] = "regad"
    shots: int = Field(8, ge=1, le=64, description="k normal support images per draw (the paper: 2, 4, 8)")
    inferences: int = Field(10, ge=1, le=100, description="seeded support draws; metrics: mean and std")
    train_categories: list[str] | None = Field(
        None, min_length=1, description="categories the registration network trains on (the target is "
        "always left out); default: every category under data.root but the target")  # fmt: skip
    epochs: int = Field(50, ge=1, le=1000, description="passes over the training categories")
    steps: int | None = Field(None, ge=1, description="stop after this many optimiser steps (a short run)")
    batch_size: int = Field(32, ge=1, le=1024, description="query images per step, each with k supports")
    lr: float = Field(1e-4, gt=0, le=1, description="SGD learning rate, cosine decay over the epochs")
    momentum: float = Field(0.9, ge=0, lt=1)
    stn_mode: StnMode = "rotation_scale"
    freeze_backbone: bool = Field(False, description="train only the transformers and heads (the "
                                  "reference fine-tunes layers 1-3 too)")  # fmt: skip
    n_features: int | None = Field(None, ge=1, description="random channel subset (Gaussian); None: all")
    eps: float = Field(0.01, gt=0, le=10, description="added to the covariance diagonal")
    blur_sigma: float = Field(4.0, ge=0, le=32)
    registration: Annotated[str, Field(min_length=1)] | RegistrationJob | None = Field(
        None, description="reuse a trained registration network instead of training one: a registration.pt, "
        "a RegAD job's output folder (its <category>/registration.pt), or {from_job: <job id>}")  # fmt: skip


def check(spec: Any) -> list[str]:
    """Problems the spec alone shows (each a 422 line)."""
    params: RegadParams = spec.method
    problems = []
    chosen = params.train_categories
    for target in spec.data.categories or [] if chosen is not None else []:
        if chosen is not None and not [name for name in chosen if name != target]:
            problems.append(f"method.train_categories: {chosen} leaves no category to train on for "
                            f"{target!r}: RegAD trains on categories other than the one it tests")
    if params.registration is not None:
        if spec.backbone.weights != "none" or spec.backbone.from_job is not None:
            problems.append("method.registration: a registration network carries its own layers 1-3 (from "
                            "the backbone of the job that trained it); leave backbone.weights 'none' and "
                            "backbone.from_job unset, keep backbone.arch")  # fmt: skip
        if chosen is not None:
            problems.append("method.train_categories: give it or method.registration, not both (a reused "
                            "network was trained on the categories its checkpoint records)")  # fmt: skip
    return problems


def training_sets(ctx: BuildContext, chosen: list[str] | None) -> dict[str, ImageDataset]:
    """The normal train images of every training category, the target left out."""
    everything = ctx.data.model_copy(update={"categories": None, "classes": None, "exclude_classes": None})
    found = categories(everything)
    names = [name for name in (chosen or found) if name != ctx.category]
    unknown = sorted(set(names) - set(found))
    if unknown:
        raise DataError(f"method.train_categories: {unknown} not under {ctx.data.root!r}; found: {found}")
    if not names:
        raise DataError(f"method.train_categories: no category but the target {ctx.category!r} to train the "
                        f"registration network on (found: {found}); RegAD needs at least two categories")
    return {name: open_dataset(ctx.data, "train", name, ctx.seed) for name in names}


class RegadEvaluator:
    """RegAD at test time (Huang et al. 2022): "the registered features of the support images ...
    estimate the normal distribution ... the Mahalanobis distance ... is the anomaly score".

    `fit` trains (or loads) the registration network on the other categories; `draw(i)` picks the i-th
    seeded k-shot support set from the target's train images and fits one Gaussian per position to the
    registered features of its 22 k augmented views; `score` maps test images. `fit` never reads the
    target's `batches` (the support images are drawn by index instead).
    """

    def __init__(self, params: RegadParams, ctx: BuildContext):
        if ctx.category is None:
            raise ValueError("RegAD scores one category at a time: BuildContext.category must be set")
        self.params, self.ctx, self.category = params, ctx, ctx.category
        self.draws = params.inferences
        self.fit_record: dict[str, Any] = {}
        self.on_epoch: Callable[[int, float], None] | None = None
        self.network: FeatureRegistration | None = None
        self.pool: ImageDataset | None = None
        self.channels: Tensor | None = None  # the n_features channel subset, None: all
        self.mean: Tensor | None = None  # (P, d)
        self.whitening: Tensor | None = None  # (P, d, d)

    def fit(self, batches: Iterable[Batch]) -> None:
        listing = self.ctx.data.model_copy(update={"cache": "none"})  # only the drawn supports are decoded
        self.pool = open_dataset(listing, "train", self.category, self.ctx.seed)
        if self.params.shots > len(self.pool):
            raise DataError(f"method.shots: {self.params.shots} exceeds the {len(self.pool)} train images of "
                            f"category {self.category!r}; accepted: <= {len(self.pool)}")  # fmt: skip
        network = self._load() if self.params.registration is not None else self._train()
        self.network = network.to(self.ctx.device).eval()
        total, wanted = sum(self.network.channels), self.params.n_features
        if wanted is not None:
            if wanted > total:
                raise DataError(f"method.n_features: {wanted} exceeds the {total} channels of layers 1-3; "
                                f"accepted: <= {total}")  # fmt: skip
            order = torch.randperm(total, generator=torch.Generator().manual_seed(self.ctx.seed))
            self.channels = order[:wanted].sort().values.to(self.ctx.device)

    def _network(self, backbone: ResNetBackbone, freeze: bool, mode: StnMode) -> FeatureRegistration:
        return FeatureRegistration(backbone, self.ctx.data.crop, mode, freeze).to(self.ctx.device)

    def _train(self) -> FeatureRegistration:
        params, ctx = self.params, self.ctx
        sets = training_sets(ctx, params.train_categories)
        network = self._network(frozen_backbone(ctx), params.freeze_backbone, params.stn_mode)
        plan = RegistrationTraining(params.epochs, params.steps, params.batch_size, params.shots, params.lr,
                                    params.momentum)  # fmt: skip
        steps = plan.run(network, sets, ctx, self.on_epoch)
        meta = {"arch": ctx.backbone.arch, "stn_mode": params.stn_mode, "image_size": ctx.data.crop,
                "freeze_backbone": params.freeze_backbone, "target_category": self.category,
                "train_categories": sorted(sets), "shots": params.shots, "steps": steps, "seed": ctx.seed,
                "backbone": ctx.backbone.model_dump(mode="json")}  # fmt: skip
        path = save_registration(ctx.out_dir, network, meta) if ctx.out_dir is not None else None
        self.fit_record = {"registration": str(path) if path else None, "registration_trained": True,
                           "registration_steps": steps, "train_categories": sorted(sets)}  # fmt: skip
        return network

    def _load(self) -> FeatureRegistration:
        source = self.params.registration
        if isinstance(source, RegistrationJob):
            if source.path is None:
                raise CheckpointError(f"method.registration.from_job {source.from_job!r} is resolved by the "
                                      "service; to run this spec here, set method.registration to that job's "
                                      "output folder")  # fmt: skip
            source = source.path
        assert source is not None
        path = registration_file(source, self.category)
        meta, state = read_registration(path)
        arch, size = self.ctx.backbone.arch, self.ctx.data.crop
        if meta.get("arch") != arch or meta.get("image_size") != size:
            raise CheckpointError(f"method.registration {str(path)!r} is a {meta.get('arch')} network for "
                                  f"{meta.get('image_size')} px images; the spec asks for {arch} at "
                                  f"{size} px")  # fmt: skip
        if self.category in meta["train_categories"]:
            raise DataError(f"method.registration {str(path)!r} was trained on {self.category!r}, the "
                            "category under test; RegAD leaves the target out: give the network trained "
                            "for it")  # fmt: skip
        network = self._network(ResNetBackbone(arch), bool(meta["freeze_backbone"]), meta["stn_mode"])
        network.load_state_dict(state)
        self.fit_record = {"registration": str(path), "registration_trained": False,
                           "registration_steps": meta["steps"], "train_categories": meta["train_categories"]}
        return network

    @torch.no_grad()
    def embed(self, images: Tensor) -> Tensor:
        """Normalised images (B, 3, H, W) -> registered layer 1-3 features at layer 1's size (B, d, h, w)."""
        assert self.network is not None, "fit() first"
        maps = self.network.registered_features(images)
        size = maps[0].shape[-2:]  # nearest upsampling: the reference's embedding_concat for exact multiples
        joined = torch.cat([m if m.shape[-2:] == size else F.interpolate(m, size=size) for m in maps], dim=1)
        return joined if self.channels is None else joined.index_select(1, self.channels)

    def support(self, index: int) -> Batch:
        """Draw `index`'s k-shot support set: k distinct train images of the target, seeded by (seed,
        category, index) alone."""
        assert self.pool is not None, "fit() first"
        generator = seeded_generator("regad-support", self.ctx.seed, self.category, index)
        return self.pool.__getitems__(support_draw(len(self.pool), self.params.shots, generator))

    @torch.no_grad()
    def draw(self, index: int) -> dict[str, Any]:
        """Fit the Gaussians to draw `index`'s augmented support set; returns the support images used."""
        picked = self.support(index)
        views = support_views(picked.images.to(self.ctx.device).float() / 255)  # (22 k, 3, H, W) in [0, 1]
        gaussian: StreamingGaussian | None = None
        for chunk in views.split(self.ctx.data.batch_size):
            embeddings = self.embed(normalize(chunk, self.ctx.data.mean, self.ctx.data.std))  # (b, d, h, w)
            if gaussian is None:
                gaussian = StreamingGaussian(embeddings.shape[1], embeddings[0, 0].numel())
                gaussian = gaussian.to(self.ctx.device)
            gaussian.update(embeddings.flatten(2))  # (b, d, h w)
        assert gaussian is not None
        self.mean, self.whitening = gaussian.mean().float(), gaussian.whitening(self.params.eps)
        return {"support": [os.path.relpath(path, self.ctx.data.root) for path in picked.paths]}

    @torch.no_grad()
    def score(self, batch: Batch) -> dict[str, Tensor]:
        if self.mean is None or self.whitening is None:
            raise RuntimeError("RegadEvaluator scored before draw(): fit it, then draw a support set")
        images = prepare(batch.images, self.ctx)
        distances = mahalanobis(self.embed(images), self.mean, self.whitening)  # (B, 1, h, w)
        size = (images.shape[-2], images.shape[-1])
        maps = to_image_size(distances, size, self.params.blur_sigma, border="symmetric")  # as the reference
        return {"image_score": image_scores(maps), "anomaly_map": maps}


@register("evaluate", RegadParams, "RegAD: a registration network trained on the other categories, "
          "Gaussians of k augmented supports' registered features", check=check)  # fmt: skip
def build(params: RegadParams, ctx: BuildContext) -> RegadEvaluator:
    return RegadEvaluator(params, ctx)
