import torch

from ab_core.models.backbone import ResNetBackbone
from ab_core.models.unet import UNetDecoder, encoder_features


def test_encoder_features_are_the_backbones_taps_plus_the_stem():
    torch.manual_seed(0)
    encoder = ResNetBackbone("unet_resnet18").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        features = encoder_features(encoder, x)
        taps = encoder.features(x)
    assert features[0].shape == (1, 64, 32, 32)
    for got, name in zip(features[1:], ("layer1", "layer2", "layer3", "layer4"), strict=True):
        torch.testing.assert_close(got, taps[name])


def test_decoder_climbs_back_to_full_resolution_with_a_skip_per_scale():
    torch.manual_seed(0)
    encoder, decoder = ResNetBackbone("unet_resnet18").eval(), UNetDecoder(out_channels=3).eval()
    with torch.no_grad():
        out = decoder(encoder_features(encoder, torch.randn(2, 3, 64, 64)))
    assert out.shape == (2, 3, 64, 64)
    assert [b.conv1[0].in_channels for b in decoder.blocks] == [768, 384, 192, 128, 32]  # input + skip


def test_the_output_depends_on_every_skip_connection():
    torch.manual_seed(0)
    encoder, decoder = ResNetBackbone("unet_resnet18").eval(), UNetDecoder().eval()
    with torch.no_grad():
        features = encoder_features(encoder, torch.randn(1, 3, 64, 64))
        base = decoder(features)
        for index in range(4):  # stem, layer1, layer2, layer3
            changed = list(features)
            changed[index] = changed[index] + 1.0
            assert not torch.allclose(decoder(changed), base), index
