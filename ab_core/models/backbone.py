"""ResNet18 / ResNet34 backbones: torchvision's parameter names, fc = Identity, taps on layers 1-4."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.models import ResNet18_Weights, ResNet34_Weights
from torchvision.models.resnet import BasicBlock, ResNet

from ab_core.checkpoints import read_backbone_state
from ab_core.errors import CheckpointError
from ab_core.spec_sections import BackboneSpec

LAYERS = ("layer1", "layer2", "layer3", "layer4")
_BLOCKS = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}
_IMAGENET = {"resnet18": ResNet18_Weights.IMAGENET1K_V1, "resnet34": ResNet34_Weights.IMAGENET1K_V1}
CHANNELS = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}
FEATURE_DIM = 512


class ResNetBackbone(ResNet):
    """A torchvision ResNet whose state dict is torchvision's minus `fc`; `forward` gives pooled features."""

    def __init__(self, arch: str = "resnet18"):
        if arch not in _BLOCKS:
            raise ValueError(f"unknown arch {arch!r}; accepted: {', '.join(_BLOCKS)}")
        super().__init__(BasicBlock, _BLOCKS[arch])
        self.arch = arch
        self.fc = nn.Identity()

    def features(self, x: Tensor, layers: Sequence[str] = LAYERS) -> dict[str, Tensor]:
        """Feature maps of the named layers, e.g. layer1 (B, 64, H/4, W/4) ... layer4 (B, 512, H/32, W/32)."""
        out: dict[str, Tensor] = {}
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in LAYERS:
            x = getattr(self, name)(x)
            if name in layers:
                out[name] = x
            if len(out) == len(layers):
                break
        return out


def arch_of_state(state: dict[str, Tensor]) -> str:
    return "resnet34" if "layer1.2.conv1.weight" in state else "resnet18"


def load_weights(model: ResNetBackbone, weights: str) -> None:
    """Fill `model` from 'none' (keep the random init), 'imagenet', or a checkpoint path."""
    if weights == "none":
        return
    if weights == "imagenet":
        state = _imagenet_state(model.arch)
    else:
        state = read_backbone_state(weights)
        found = arch_of_state(state)
        if found != model.arch:
            raise CheckpointError(
                f"weights {weights!r} are a {found} backbone but the spec asks for {model.arch}"
            )
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"weights {weights!r} do not fit {model.arch}: missing {missing[:4]}, unexpected {unexpected[:4]}"
        )


def _imagenet_state(arch: str) -> dict[str, Tensor]:
    weights = _IMAGENET[arch]
    try:
        return weights.get_state_dict(progress=False)
    except Exception as error:  # URLError, OSError, ...: offline
        raise CheckpointError(
            f"ImageNet weights for {arch} are not on disk and cannot be downloaded ({error}); "
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
