import math

import pytest
import torch

from ab_core.components.registration import REGISTERED_LAYERS, FeatureRegistration
from ab_core.components.spatial_transformer import (
    STN_MODES,
    SpatialTransformer,
    invert,
    rotation,
    theta_of,
    translation,
    warp,
)
from ab_core.models.backbone import ResNetBackbone

IDENTITY = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@pytest.mark.parametrize("mode", STN_MODES)
def test_a_fresh_transformer_is_the_identity_and_leaves_features_unchanged(mode):
    torch.manual_seed(0)
    transformer = SpatialTransformer(channels=8, size=12, mode=mode).eval()
    maps = torch.randn(3, 8, 12, 12)
    out, theta = transformer(maps)
    torch.testing.assert_close(theta, IDENTITY.expand(3, 2, 3))
    torch.testing.assert_close(out, maps, atol=1e-5, rtol=0)  # float rounding of the sampling grid only


def test_rotation_scale_theta_is_the_references_closed_form():
    angle, sx, sy = math.pi / 6, 2.0, 3.0
    theta = theta_of(torch.tensor([[angle, sx, sy]]), "rotation_scale")
    c, s = math.cos(angle), math.sin(angle)
    torch.testing.assert_close(theta, torch.tensor([[[sx * c, -s, 0.0], [s, sy * c, 0.0]]]))
    torch.testing.assert_close(theta_of(torch.tensor([[0.1, -0.2]]), "translation"),
                               torch.tensor([[[1.0, 0.0, 0.1], [0.0, 1.0, -0.2]]]))  # fmt: skip
    with pytest.raises(ValueError, match="accepted: rotation_scale, affine, translation"):
        theta_of(torch.zeros(1, 1), "shear")


def test_a_one_pixel_translation_shifts_the_map_by_one_pixel():
    maps = torch.randn(1, 2, 6, 8)
    shifted = warp(maps, translation(2 / 8, 0.0))  # one pixel is 2 / W in normalised coordinates
    torch.testing.assert_close(shifted[..., :-1], maps[..., 1:], atol=1e-6, rtol=0)
    square = torch.randn(1, 1, 6, 6)  # a right angle about the centre permutes the pixels exactly
    quarter = warp(square, rotation(math.pi / 2))
    torch.testing.assert_close(quarter, torch.rot90(square, 1, (-2, -1)), atol=1e-5, rtol=0)


def test_invert_composes_to_the_identity_and_is_detached():
    theta = theta_of(torch.tensor([[0.3, 1.2, 0.8], [-0.5, 0.9, 1.1]], requires_grad=True), "rotation_scale")
    inverse = invert(theta)
    assert not inverse.requires_grad
    bottom = torch.tensor([[[0.0, 0.0, 1.0]]]).expand(2, 1, 3)
    product = torch.cat([theta.detach(), bottom], 1) @ torch.cat([inverse, bottom], 1)
    torch.testing.assert_close(product, torch.eye(3).expand(2, 3, 3), atol=1e-6, rtol=0)


def test_the_registration_network_at_its_start_gives_the_backbones_layer_features():
    torch.manual_seed(0)
    backbone = ResNetBackbone("resnet18").eval()
    network = FeatureRegistration(backbone, image_size=48).eval()
    images = torch.randn(2, 3, 48, 48)
    expected = backbone.features(images, REGISTERED_LAYERS)
    for name, registered in zip(REGISTERED_LAYERS, network.registered_features(images), strict=True):
        torch.testing.assert_close(registered, expected[name], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(network(images), expected["layer3"], atol=1e-5, rtol=1e-5)
