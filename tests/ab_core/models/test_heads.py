import torch

from ab_core.models.heads import ProjectionHead


def test_projection_head_maps_pooled_features_to_out_dim_through_a_hidden_batchnorm():
    head = ProjectionHead(in_dim=16, hidden_dim=8, out_dim=4)
    out = head(torch.randn(5, 16))
    assert out.shape == (5, 4)
    kinds = [type(layer).__name__ for layer in head.layers]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear"]


def test_projection_head_defaults_are_simclr_v1_sizes():
    head = ProjectionHead()
    assert head.layers[0].in_features == 512
    assert head.layers[0].out_features == 512
    assert head.layers[3].out_features == 128
