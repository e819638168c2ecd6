import pytest
import torch
import torchvision

from ab_core.errors import CheckpointError, SpecError
from ab_core.models.archs import ARCHS
from ab_core.models.backbone import ResNetBackbone, arch_of_state, load_weights
from ab_core.specs import parse_spec


@pytest.mark.parametrize("name", ["resnet50", "wide_resnet50_2"])
def test_bottleneck_archs_load_strictly_into_torchvisions_model(name):
    ours = ResNetBackbone(name).state_dict()
    reference = getattr(torchvision.models, name)()
    ours |= {k: v for k, v in reference.state_dict().items() if k.startswith("fc.")}
    reference.load_state_dict(ours, strict=True)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_each_taps_width_is_what_the_layer_gives(name):
    with torch.no_grad():
        backbone = ResNetBackbone(name).eval()
        features = backbone.features(torch.randn(1, 3, 64, 64))
        pooled = backbone(torch.randn(1, 3, 64, 64))
    assert {k: v.shape[1] for k, v in features.items()} == backbone.channels
    assert pooled.shape == (1, backbone.feature_dim)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_the_arch_of_a_state_dict_is_recognised(name):
    state = ResNetBackbone(name).state_dict()
    assert arch_of_state(state, prefer=name) == name
    # unet_resnet18's backbone is its ResNet-18 encoder: the same layout, so the table's first match
    assert arch_of_state(state) == ("resnet18" if name == "unet_resnet18" else name)


def test_a_wide_resnet_checkpoint_in_a_resnet18_spec_names_both_archs(tmp_path):
    weights = tmp_path / "backbone.pt"
    torch.save(ResNetBackbone("wide_resnet50_2").state_dict(), weights)
    with pytest.raises(CheckpointError, match="wide_resnet50_2.*resnet18"):
        load_weights(ResNetBackbone("resnet18"), str(weights))


def test_a_method_given_an_arch_it_cannot_use_names_both():
    spec = {"kind": "pretrain", "method": {"method": "reconstruction"}, "backbone": {"arch": "resnet18"},
            "data": {"dataset": "image_folder", "root": "/data"}}
    with pytest.raises(SpecError, match="backbone.arch: method 'reconstruction' cannot use 'resnet18'; "
                       "accepted: unet_resnet18"):
        parse_spec(spec)
