"""RD4AD here (ReverseDistillation) and in anomalib (ReverseDistillationModel), each trained as configured."""

from __future__ import annotations

import torch

from bench.vs_anomalib import load_timm, scored

NAME = "rd4ad"


def add_arguments(parser) -> None:
    parser.add_argument("--rd4ad-epochs", type=int, default=3, help="training passes of both")
    parser.add_argument("--rd4ad-precision", choices=("float32", "bfloat16"), default="float32",
                        help="ours: Rd4adParams.precision (anomalib runs float32)")


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


class Ours:
    def __init__(self, state, args):
        from ab_core.methods.rd4ad import ReverseDistillation
        from ab_core.models.backbone import ResNetBackbone

        teacher = ResNetBackbone(args.arch)
        teacher.load_state_dict(state)
        bfloat16 = args.rd4ad_precision == "bfloat16"
        self.model = ReverseDistillation(teacher, blur_sigma=4.0, bfloat16=bfloat16).to(args.device)
        self.epochs = args.rd4ad_epochs

    def fit(self, batches) -> None:  # as Rd4adEvaluator.fit: its Adam (stepped inside backward) and step
        from ab_core.methods.rd4ad import adam, train_step

        optimizer = adam(self.model, lr=0.005)
        self.model.train()
        for _ in range(self.epochs):
            for images in batches:
                if images.shape[0] >= 2:  # BatchNorm cannot train on one image
                    train_step(self.model, images)
        optimizer.remove()
        self.model.eval()

    @torch.no_grad()
    def score(self, images):
        maps = self.model.anomaly_maps(images)
        return maps.flatten(1).amax(dim=1), maps


class Anomalib:
    def __init__(self, state, args):
        from anomalib.models.image.reverse_distillation.anomaly_map import AnomalyMapGenerationMode
        from anomalib.models.image.reverse_distillation.loss import ReverseDistillationLoss
        from anomalib.models.image.reverse_distillation.torch_model import ReverseDistillationModel

        self.model = ReverseDistillationModel(
            backbone=args.arch, input_size=(args.crop, args.crop), layers=["layer1", "layer2", "layer3"],
            anomaly_map_mode=AnomalyMapGenerationMode.ADD, pre_trained=False,
        )
        load_timm(self.model.encoder, state)
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
