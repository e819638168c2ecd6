"""PatchCore here (chunked bank, matrix-vector k-center) and in anomalib (PatchcoreModel, KCenterGreedy)."""

from __future__ import annotations

import torch

from bench.vs_anomalib import OnePass, load_timm, scored

NAME = "patchcore"


def add_arguments(parser) -> None:
    parser.add_argument("--patchcore-ratio", type=float, default=0.1, help="coreset_ratio (anomalib's "
                        "coreset_sampling_ratio)")
    parser.add_argument("--patchcore-neighbors", type=int, default=9, help="num_neighbors of both")
    parser.add_argument("--patchcore-own-draws", action="store_true", help="let anomalib draw its own "
                        "projection and start (default: ours, so both select the same coreset)")


def _share_our_draws(seed: int) -> None:
    """anomalib's projection matrix and random start become ours, drawn from the same seeded generator,
    as the PaDiM bench hands anomalib our channel subset: then the two select the same coreset, and
    AUROC differences come from the computations alone. anomalib still builds its own matrix first,
    so its fit time is unchanged."""
    from anomalib.models.components.dimensionality_reduction.random_projection import SparseRandomProjection

    from ab_core.components.coreset import sparse_random_projection

    original = SparseRandomProjection.fit

    def fit(projector, embedding):
        original(projector, embedding)
        generator = torch.Generator().manual_seed(seed)
        matrix = sparse_random_projection(embedding.shape[1], int(projector.n_components), generator)
        projector.sparse_random_matrix = matrix.to(embedding.device)
        torch.set_rng_state(generator.get_state())  # anomalib's next global draw, its start, is ours
        return projector

    SparseRandomProjection.fit = fit


def _ours_model(state, args):
    from ab_core.methods.patchcore import PatchcoreModel
    from ab_core.models.backbone import ResNetBackbone

    backbone = ResNetBackbone(args.arch)
    backbone.load_state_dict(state)
    return PatchcoreModel(backbone, args.patchcore_ratio, args.patchcore_neighbors, blur_sigma=4.0,
                          seed=args.seed, max_memory_mb=1e6).eval().to(args.device)

class Anomalib:
    def __init__(self, state, args):
        from anomalib.models.image.patchcore.torch_model import PatchcoreModel

        self.model = PatchcoreModel(layers=["layer2", "layer3"], backbone=args.arch, pre_trained=False,
                                    num_neighbors=args.patchcore_neighbors)
        load_timm(self.model.feature_extractor, state)
        self.model.to(args.device)
        self.ratio = args.patchcore_ratio
        if not args.patchcore_own_draws:
            _share_our_draws(args.seed)

    @torch.no_grad()
    def fit(self, batches) -> None:  # as anomalib's Lightning `Patchcore`: collect (train mode), subsample
        self.model.train()
        for images in batches:
            self.model(images)  # appends to model.embedding_store
        self.model.subsample_embedding(self.ratio)
        self.model.eval()

    @torch.no_grad()
    def score(self, images):
        return scored(self.model(images))


def ours(state, args) -> OnePass:
    return OnePass(_ours_model(state, args))


def anomalib(state, args) -> Anomalib:
    return Anomalib(state, args)
