"""ResNet backbones: torchvision's parameter names, fc = Identity, taps on layers 1-4 (see `archs`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.models.resnet import ResNet

from ab_core.checkpoints import read_backbone_state
from ab_core.errors import CheckpointError
from ab_core.models.archs import ARCHS, arch
from ab_core.spec_sections import BackboneSpec

LAYERS = ("layer1", "layer2", "layer3", "layer4")


class ResNetBackbone(ResNet):
    """A torchvision ResNet whose state dict is torchvision's minus `fc`; `forward` gives pooled features.

    `channels[layer]` is each tap's width and `feature_dim` the pooled width, both from the arch.
    """

    def __init__(self, arch_name: str = "resnet18"):
        layout = arch(arch_name)
        super().__init__(layout.block, list(layout.layers), width_per_group=layout.width_per_group)  # type: ignore[arg-type]
        self.arch = arch_name
        self.channels = dict(layout.channels)
        self.feature_dim = layout.feature_dim
        self.fc = nn.Identity()
        if layout.post_init is not None:
            layout.post_init(self)

    def features(self, x: Tensor, layers: Sequence[str] = LAYERS) -> dict[str, Tensor]:
        """Feature maps of the named layers, e.g. layer1 (B, 64, H/4, W/4) ... layer4 (B, 512, H/32, W/32)
        for ResNet-18."""
        out: dict[str, Tensor] = {}
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in LAYERS:
            x = getattr(self, name)(x)
            if name in layers:
                out[name] = x
            if len(out) == len(layers):
                break
        return out


def _shapes(arch_name: str) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):  # no memory, no init cost
        model = ResNetBackbone(arch_name)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def arch_of_state(state: dict[str, Tensor], prefer: str | None = None) -> str | None:
    """The arch whose parameter names and shapes the state dict has exactly (fc ignored), else None;
    `prefer` first, since archs may share a layout (unet_resnet18's backbone is a resnet18)."""
    found = {k: tuple(v.shape) for k, v in state.items() if not k.startswith("fc.")}
    names = sorted(ARCHS, key=lambda name: name != prefer)  # stable: `prefer` first, then table order
    return next((name for name in names if _shapes(name) == found), None)


def load_weights(model: ResNetBackbone, weights: str) -> None:
    """Fill `model` from 'none' (keep the random init), 'imagenet', or a checkpoint path."""
    if weights == "none":
        return
    if weights == "imagenet":
        state = _imagenet_state(model.arch)
    else:
        state = read_backbone_state(weights)
        found = arch_of_state(state, prefer=model.arch)
        if found != model.arch:
            what = f"a {found} backbone" if found else "no backbone of a known arch"
            raise CheckpointError(f"weights {weights!r} are {what} but the spec asks for {model.arch}")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"weights {weights!r} do not fit {model.arch}: missing {missing[:4]}, unexpected {unexpected[:4]}"
        )


def _imagenet_state(arch_name: str) -> dict[str, Tensor]:
    weights = arch(arch_name).imagenet
    if weights is None:
        raise CheckpointError(f"there are no ImageNet weights for {arch_name}; give weights: 'none' or a "
                              "checkpoint directory")
    try:
        return weights.get_state_dict(progress=False)
    except Exception as error:  # URLError, OSError, ...: offline
        raise CheckpointError(
            f"ImageNet weights for {arch_name} are not on disk and cannot be downloaded ({error}); "
            f"place {weights.url.rsplit('/', 1)[-1]} in {torch.hub.get_dir()}/checkpoints "
            "or give weights: 'none' or a checkpoint directory"
        ) from None


def build_backbone(spec: BackboneSpec) -> ResNetBackbone:
    if spec.from_job is not None and spec.weights == "none":
        raise CheckpointError(
            f"backbone.from_job {spec.from_job!r} is resolved by the service; to run this spec here, "
            "set backbone.weights to that job's checkpoint directory instead"
        )
    model = ResNetBackbone(spec.arch)
    load_weights(model, spec.weights)
    return model
