import pytest
import torch

from ab_core import registry
from ab_core.components.reverse_distillation import DECODER_BLOCKS, MirroredDecoder, OneClassBottleneck
from ab_core.models.archs import ARCHS
from ab_core.models.backbone import ResNetBackbone

TEACHER_LAYERS = ("layer1", "layer2", "layer3")
# parameter counts of the reference code (hq-deng/RD4AD): BN_layer of resnet.py without its conv4 / bn4,
# which forward never calls, and the de_resnet decoders; computed from that code
REFERENCE_COUNTS = {
    "resnet18": (11_680_000, 3_703_168),
    "resnet34": (16_400_640, 5_770_624),
    "resnet50": (30_829_568, 15_821_824),
    "wide_resnet50_2": (58_885_120, 24_917_504),
}


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("arch", sorted(REFERENCE_COUNTS))
def test_bottleneck_and_decoder_have_the_reference_codes_parameter_counts(arch):
    with torch.device("meta"):
        bottleneck, decoder = OneClassBottleneck.for_arch(arch), MirroredDecoder(arch)
    assert (count(bottleneck), count(decoder)) == REFERENCE_COUNTS[arch]


@pytest.mark.parametrize("arch", ["resnet50", "wide_resnet50_2"])
def test_bottleneck_archs_decode_to_the_teachers_layer_shapes(arch):
    torch.manual_seed(0)
    with torch.no_grad():
        features = ResNetBackbone(arch).eval().features(torch.randn(1, 3, 64, 64), TEACHER_LAYERS)
        code = OneClassBottleneck.for_arch(arch).eval()(*(features[n] for n in TEACHER_LAYERS))
        decoded = MirroredDecoder(arch).eval()(code)
    assert code.shape == (1, 2048, 2, 2)
    assert [d.shape for d in decoded] == [features[n].shape for n in TEACHER_LAYERS]


def test_wide_resnet_blocks_keep_the_double_width():
    bottleneck, decoder = OneClassBottleneck.for_arch("wide_resnet50_2"), MirroredDecoder("wide_resnet50_2")
    assert bottleneck.embed[0].conv2.out_channels == 1024  # 512 planes x 128 / 64
    assert decoder.up3[0].conv2.out_channels == 512 and decoder.up3[0].conv3.out_channels == 1024


def test_rd4ad_accepts_every_arch_with_a_decoder_and_nothing_else():
    assert registry.get("rd4ad").archs == tuple(DECODER_BLOCKS)
    assert set(DECODER_BLOCKS) == set(ARCHS)
    with pytest.raises(ValueError, match="no RD4AD decoder for arch 'vgg16'; accepted: resnet18"):
        MirroredDecoder("vgg16")
