"""RD4AD here (ReverseDistillation) and in anomalib (ReverseDistillationModel), same start, each trained as
configured (Adam betas: ours the paper's (0.5, 0.999), anomalib's (0.5, 0.99)).

Both students (bottleneck and decoder) start from the same weights: ours, seeded, copied into anomalib's
(its OCBE's unused conv4 / bn4 keep their own). From the same start the two losses agree to float rounding
over the first steps (then drift apart, as Adam's first steps amplify rounding); from two different random
starts a few epochs on 60 images leave image AUROCs up to 0.3 apart, which says nothing about the code.
"""

from __future__ import annotations

import torch

from bench.vs_anomalib import load_timm, scored

NAME = "rd4ad"


def add_arguments(parser) -> None:
    parser.add_argument("--rd4ad-epochs", type=int, default=3, help="training passes of both")
    parser.add_argument(
        "--rd4ad-precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="ours: Rd4adParams.precision (anomalib runs float32)",
    )


def _train(model, parameters, loss_of, batches, epochs: int, betas: tuple[float, float]) -> None:
    optimizer = torch.optim.Adam(parameters, lr=0.005, betas=betas)
    model.train()
    for _ in range(epochs):
        for images in batches:
            if images.shape[0] < 2:  # BatchNorm cannot train on one image
                continue
            loss = loss_of(images)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()


def _ours(state, args):
    """Our model, its student seeded by the driver: built first by both implementations."""
    from ab_core.methods.rd4ad import ReverseDistillation
    from ab_core.models.backbone import ResNetBackbone

    teacher = ResNetBackbone(args.arch)
    teacher.load_state_dict(state)
    return ReverseDistillation(teacher, blur_sigma=4.0, bfloat16=args.rd4ad_precision == "bfloat16")


# our bottleneck's names -> anomalib's OCBE's (its conv1/bn1, conv2/bn2: layer1's two downsamplings)
BOTTLENECK_NAMES = (
    ("embed.", "bn_layer."),
    ("from_layer1.0.0.", "conv1."), ("from_layer1.0.1.", "bn1."),
    ("from_layer1.1.0.", "conv2."), ("from_layer1.1.1.", "bn2."),
    ("from_layer2.0.", "conv3."), ("from_layer2.1.", "bn3."),
)  # fmt: skip


def copy_student(ours, theirs) -> None:
    """Our bottleneck and decoder weights and BN buffers into anomalib's model."""
    renamed = {}
    for name, value in ours.bottleneck.state_dict().items():
        ((mine, its),) = [(a, b) for a, b in BOTTLENECK_NAMES if name.startswith(a)]
        renamed[its + name[len(mine) :]] = value
    missing, unexpected = theirs.bottleneck.load_state_dict(renamed, strict=False)
    assert not unexpected and all(k.startswith(("conv4.", "bn4.")) for k in missing), (missing, unexpected)
    # the decoders register the same blocks in the same order (ours up3, up2, up1; anomalib's layer1-3)
    target = theirs.decoder.state_dict()
    source = list(ours.decoder.state_dict().values())
    assert [v.shape for v in target.values()] == [v.shape for v in source]
    theirs.decoder.load_state_dict(dict(zip(target, source, strict=True)), strict=True)


class Ours:
    def __init__(self, state, args):
        from ab_core.contracts import BuildContext
        from ab_core.methods.rd4ad import Rd4adEvaluator, Rd4adParams
        from ab_core.specs import BackboneSpec, DataSpec

        params = Rd4adParams(epochs=args.rd4ad_epochs, lr=0.005, precision=args.rd4ad_precision)
        data = DataSpec(dataset="mvtec", root="unused", resize=args.crop, crop=args.crop)
        ctx = BuildContext(BackboneSpec(arch=args.arch), data, 2, torch.device(args.device), args.seed)
        self.evaluator = Rd4adEvaluator(_ours(state, args).to(args.device), params, ctx)
        self.model = self.evaluator.model

    def fit(self, batches) -> None:  # Rd4adEvaluator.fit on the bench's normalised batches
        self.evaluator.fit_images(batches)

    @torch.no_grad()
    def score(self, images):
        maps = self.model.anomaly_maps(images)
        return maps.flatten(1).amax(dim=1), maps


class Anomalib:
    def __init__(self, state, args):
        from anomalib.models.image.reverse_distillation.anomaly_map import AnomalyMapGenerationMode
        from anomalib.models.image.reverse_distillation.loss import ReverseDistillationLoss
        from anomalib.models.image.reverse_distillation.torch_model import ReverseDistillationModel

        start = _ours(state, args)  # first, so that its seeded student is the one Ours gets
        self.model = ReverseDistillationModel(
            backbone=args.arch,
            input_size=(args.crop, args.crop),
            layers=["layer1", "layer2", "layer3"],
            anomaly_map_mode=AnomalyMapGenerationMode.ADD,
            pre_trained=False,
        )
        load_timm(self.model.encoder, state)
        copy_student(start, self.model)
        self.start = start  # held: memory freed before the fit would be reused by it, lowering its peak
        self.model.to(args.device)
        self.loss, self.epochs = ReverseDistillationLoss(), args.rd4ad_epochs

    def fit(self, batches) -> None:  # as anomalib's Lightning optimiser: Adam, betas (0.5, 0.99)
        parameters = [*self.model.decoder.parameters(), *self.model.bottleneck.parameters()]
        loss = lambda images: self.loss(*self.model(images))  # noqa: E731
        _train(self.model, parameters, loss, batches, self.epochs, betas=(0.5, 0.99))

    @torch.no_grad()
    def score(self, images):
        return scored(self.model(images))


def ours(state, args) -> Ours:
    return Ours(state, args)


def anomalib(state, args) -> Anomalib:
    return Anomalib(state, args)
