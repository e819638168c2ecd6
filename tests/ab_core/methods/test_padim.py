import pytest
import torch

from ab_core.contracts import Batch, BuildContext
from ab_core.errors import DataError, SpecError
from ab_core.methods.padim import PadimModel, PadimParams, build, n_features_for
from ab_core.models.backbone import ResNetBackbone
from ab_core.specs import BackboneSpec, DataSpec


def make_ctx(seed: int = 0) -> BuildContext:
    data = DataSpec(dataset="mvtec", root="unused", resize=32, crop=32)
    return BuildContext(BackboneSpec(), data, 2, torch.device("cpu"), seed=seed)


def random_images(count: int, size: int = 32) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8)


def test_padim_distance_is_the_mahalanobis_distance_of_covariance_plus_eps():
    torch.manual_seed(0)
    model = PadimModel(ResNetBackbone().eval(), n_features=12, eps=0.01, blur_sigma=4.0, seed=0)
    train = torch.randn(24, 3, 32, 32)
    for chunk in train.split(10):
        model.update(chunk)
    embeddings = model.embed(train).double()  # (N, d, h, w)
    model.finish()
    test = torch.randn(3, 3, 32, 32)
    got = model.mahalanobis(model.embed(test))  # (B, 1, h, w)

    e = embeddings.flatten(2)  # (N, d, P)
    x = model.embed(test).double().flatten(2)  # (B, d, P)
    for p in (0, 5, e.shape[-1] - 1):
        covariance = torch.cov(e[:, :, p].T) + 0.01 * torch.eye(12, dtype=torch.float64)
        diff = x[:, :, p] - e[:, :, p].mean(dim=0)  # (B, d)
        expected = torch.einsum("bi,ij,bj->b", diff, torch.linalg.inv(covariance), diff).sqrt()
        torch.testing.assert_close(got.flatten(2)[:, 0, p].double(), expected, rtol=1e-3, atol=1e-3)


def test_padim_scores_batches_with_full_size_maps_and_max_image_scores():
    torch.manual_seed(0)
    evaluator = build(PadimParams(n_features=20), make_ctx())
    evaluator.fit([Batch(random_images(6), torch.zeros(6, dtype=torch.int64)) for _ in range(2)])
    out = evaluator.score(Batch(random_images(3), torch.zeros(3, dtype=torch.int64)))
    assert out["anomaly_map"].shape == (3, 1, 32, 32)
    torch.testing.assert_close(out["image_score"], out["anomaly_map"].flatten(1).amax(dim=1))


def test_padim_keeps_no_embedding_bank_and_drops_its_sums_after_fitting():
    torch.manual_seed(0)
    evaluator = build(PadimParams(n_features=20), make_ctx())
    evaluator.fit([Batch(random_images(4), torch.zeros(4, dtype=torch.int64)) for _ in range(3)])
    sizes = {name: tuple(b.shape) for name, b in evaluator.model.named_buffers() if "backbone" not in name}
    assert sizes == {"channels": (20,), "mean": (64, 20), "whitening": (64, 20, 20)}  # 8 x 8 positions


def test_padim_embedding_is_the_seeded_channel_subset_of_layers_1_to_3_at_layer_1_resolution():
    torch.manual_seed(0)
    model = PadimModel(ResNetBackbone().eval(), n_features=50, eps=0.01, blur_sigma=4.0, seed=3)
    images = torch.randn(2, 3, 32, 32)
    features = model.backbone.features(images, ("layer1", "layer2", "layer3"))
    size = features["layer1"].shape[-2:]
    every = torch.cat([features["layer1"]] + [torch.nn.functional.interpolate(features[n], size=size)
                                              for n in ("layer2", "layer3")], dim=1)  # (B, 448, 8, 8)
    torch.testing.assert_close(model.embed(images), every[:, model.channels])


def test_padim_channel_subset_is_fixed_by_the_seed():
    channels = [PadimModel(ResNetBackbone(), 100, 0.01, 4.0, seed).channels for seed in (0, 0, 1)]
    assert torch.equal(channels[0], channels[1]) and not torch.equal(channels[0], channels[2])
    assert len(set(channels[0].tolist())) == 100 and int(channels[0].max()) < 448


def test_padim_without_training_images_names_the_problem():
    evaluator = build(PadimParams(), make_ctx())
    with pytest.raises(DataError, match="no training images"):
        evaluator.fit([])


def test_padim_n_features_defaults_follow_the_arch():
    params = PadimParams()
    assert params.n_features is None
    assert n_features_for(params, ResNetBackbone("resnet18")) == 100  # today's default on ResNet-18
    assert n_features_for(params, ResNetBackbone("resnet34")) == 100
    with torch.device("meta"):  # layers 1-3 of 256 + 512 + 1024 channels, no memory
        assert n_features_for(params, ResNetBackbone("wide_resnet50_2")) == 550
        assert n_features_for(params, ResNetBackbone("resnet50")) == 550
    assert n_features_for(PadimParams(n_features=40), ResNetBackbone()) == 40
    assert len(build(PadimParams(), make_ctx()).model.channels) == 100


def test_padim_n_features_above_the_archs_channels_is_a_spec_error_naming_the_field():
    with pytest.raises(SpecError, match=r"method.n_features: 1000 exceeds the 448 .*accepted: 1..448"):
        build(PadimParams(n_features=1000), make_ctx())
