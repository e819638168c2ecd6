"""PaDiM here (streaming Gaussians) and in anomalib (embedding bank, per-position covariance), one subset."""

from __future__ import annotations

import torch

from bench.vs_anomalib import OnePass, load_timm, scored

NAME = "padim"


def add_arguments(parser) -> None:
    parser.add_argument("--padim-n-features", type=int, default=None, help="default: the arch's (100 on r18)")


def _model(state, args):
    from ab_core.methods.padim import PadimModel, PadimParams, n_features_for
    from ab_core.models.backbone import ResNetBackbone

    backbone = ResNetBackbone(args.arch)
    backbone.load_state_dict(state)
    n_features = n_features_for(PadimParams(n_features=args.padim_n_features), backbone)
    return PadimModel(backbone, n_features, eps=0.01, blur_sigma=4.0, seed=args.seed).eval().to(args.device)


class Anomalib:
    def __init__(self, state, args):
        from anomalib.models.image.padim.torch_model import PadimModel

        channels = _model(state, args).channels  # the same seeded subset: both fit the same model
        self.model = PadimModel(backbone=args.arch, layers=["layer1", "layer2", "layer3"], pre_trained=False,
                                n_features=len(channels))
        load_timm(self.model.feature_extractor, state)
        self.model.idx.copy_(channels)
        self.model.to(args.device)

    @torch.no_grad()
    def fit(self, batches) -> None:
        self.model.train()
        for images in batches:
            self.model(images)
        self.model.fit()
        self.model.eval()

    @torch.no_grad()
    def score(self, images):
        return scored(self.model(images))


def ours(state, args) -> OnePass:
    return OnePass(_model(state, args))


def anomalib(state, args) -> Anomalib:
    return Anomalib(state, args)
