import pytest
import torch
import torchvision

from ab_core.models.backbone import ResNetBackbone, load_weights
from ab_core.models.cbam import CBAM, ChannelGate, SpatialGate


def test_channel_gate_is_the_sigmoid_of_the_shared_mlp_on_avg_and_max_pooled_features():
    torch.manual_seed(0)
    gate = ChannelGate(32, reduction=4)
    x = torch.randn(2, 32, 5, 7)
    mlp = gate.mlp
    weights = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.flatten(2).max(dim=2).values))  # (B, C)
    expected = x * weights[:, :, None, None]
    torch.testing.assert_close(gate(x), expected)
    assert mlp[0].out_features == 8  # C / r


def test_spatial_gate_scales_each_position_by_a_7x7_conv_of_channel_max_and_mean():
    torch.manual_seed(0)
    gate = SpatialGate().eval()
    with torch.no_grad():
        gate.bn.weight.fill_(1.0)
    x = torch.randn(2, 16, 9, 9)
    pooled = torch.cat([x.max(dim=1, keepdim=True).values, x.mean(dim=1, keepdim=True)], dim=1)
    expected = x * torch.sigmoid(gate.bn(torch.nn.functional.conv2d(pooled, gate.conv.weight, padding=3)))
    torch.testing.assert_close(gate(x), expected)


def test_cbam_resnet18_starts_with_the_authors_init_every_position_at_weight_one_half():
    model = ResNetBackbone("cbam_resnet18")
    gates = [m for m in model.modules() if isinstance(m, CBAM)]
    assert len(gates) == 8  # one per basic block
    assert all(not g.spatial.bn.weight.detach().any() for g in gates)
    x = torch.randn(1, 64, 6, 6)
    torch.testing.assert_close(gates[0].spatial.eval()(x), x * 0.5)


def test_cbam_resnet18_is_resnet18s_parameters_plus_cbam_ones():
    ours = set(ResNetBackbone("cbam_resnet18").state_dict())
    reference = {k for k in torchvision.models.resnet18().state_dict() if not k.startswith("fc.")}
    assert reference <= ours
    assert all(".cbam." in key for key in ours - reference)


@pytest.mark.parametrize("name", ["cbam_resnet18", "unet_resnet18"])
def test_a_checkpoint_of_the_new_archs_loads_back_strictly(name, tmp_path):
    torch.manual_seed(0)
    saved = ResNetBackbone(name)
    with torch.no_grad():
        for p in saved.parameters():
            p.add_(torch.randn_like(p))
    torch.save(saved.state_dict(), tmp_path / "backbone.pt")
    loaded = ResNetBackbone(name)
    load_weights(loaded, str(tmp_path / "backbone.pt"))
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in saved.state_dict().items())
    loaded.load_state_dict(saved.state_dict(), strict=True)


def test_a_resnet18_checkpoint_in_a_cbam_spec_names_both_archs(tmp_path):
    from ab_core.errors import CheckpointError

    torch.save(ResNetBackbone("resnet18").state_dict(), tmp_path / "backbone.pt")
    with pytest.raises(CheckpointError, match="resnet18 backbone but the spec asks for cbam_resnet18"):
        load_weights(ResNetBackbone("cbam_resnet18"), str(tmp_path / "backbone.pt"))
