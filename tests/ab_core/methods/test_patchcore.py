import json

import pytest
import torch
import torch.nn.functional as F

from ab_core.components.encoder import changed_entries, state_snapshot
from ab_core.contracts import Batch, BuildContext
from ab_core.errors import DataError, TrainingError
from ab_core.methods.patchcore import PatchcoreModel, PatchcoreParams, build
from ab_core.models.backbone import ResNetBackbone
from ab_core.runner import run
from ab_core.specs import BackboneSpec, DataSpec, parse_spec


def make_ctx(size: int = 32) -> BuildContext:
    data = DataSpec(dataset="mvtec", root="unused", resize=size, crop=size)
    return BuildContext(BackboneSpec(), data, 2, torch.device("cpu"), seed=0)


def batches(count: int, size: int = 32, seed: int = 0) -> list[Batch]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8, generator=generator)
    return [Batch(chunk, torch.zeros(len(chunk), dtype=torch.int64)) for chunk in images.split(4)]


def model(ratio: float = 0.1, neighbours: int = 9, cap: float = 8192) -> PatchcoreModel:
    torch.manual_seed(0)
    return PatchcoreModel(ResNetBackbone().eval(), ratio, neighbours, 4.0, seed=0, max_memory_mb=cap)


def test_patch_features_are_3x3_averaged_layers_2_and_3_at_layer_2_resolution():
    patchcore = model()
    images = torch.randn(2, 3, 64, 64)
    features = patchcore.backbone.features(images, ("layer2", "layer3"))
    layer2 = F.avg_pool2d(features["layer2"], 3, 1, 1)  # (2, 128, 8, 8)
    layer3 = F.interpolate(F.avg_pool2d(features["layer3"], 3, 1, 1), size=(8, 8), mode="bilinear")
    torch.testing.assert_close(patchcore.embed(images), torch.cat([layer2, layer3], dim=1))


def test_training_images_score_zero_against_a_full_bank():
    patchcore = model(ratio=1.0)
    train = torch.randn(4, 3, 32, 32)
    patchcore.update(train)
    patchcore.finish()
    assert patchcore.memory_bank.shape == (4 * 4 * 4, 384)  # every patch of 4 images at 4 x 4
    scores, maps = patchcore(train)
    others, _ = patchcore(torch.randn(4, 3, 32, 32))
    assert maps.shape == (4, 1, 32, 32) and others.min() > 1.0  # |q|^2 - 2 q.b + |b|^2 rounds to ~1e-2
    assert scores.abs().max() < 0.05 and maps.abs().max() < 0.05


def test_image_score_is_the_papers_reweighted_maximum():
    patchcore = model(ratio=0.5, neighbours=3)
    for images in torch.randn(8, 3, 32, 32).split(4):
        patchcore.update(images)
    patchcore.finish()
    test = torch.randn(2, 3, 32, 32)
    scores, _ = patchcore(test)
    bank = patchcore.memory_bank.double()
    for image, got in zip(patchcore.embed(test).double(), scores, strict=True):
        patches = image.flatten(1).T  # (P, D)
        distances = torch.cdist(patches, bank)  # (P, M)
        patch_scores, nearest = distances.min(dim=1)
        worst = int(patch_scores.argmax())
        star = bank[nearest[worst]]  # m*
        neighbourhood = torch.cdist(star[None], bank)[0].topk(3, largest=False).indices  # N_b(m*), m* first
        to_test = torch.cdist(patches[worst][None], bank[neighbourhood])[0]
        expected = (1 - to_test[0].exp() / to_test.exp().sum()) * patch_scores[worst]
        torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)
    patchcore.num_neighbors = 1  # b = 1: the plain maximum s*
    scores, _ = patchcore(test)
    expected = torch.stack([torch.cdist(p.flatten(1).T.double(), bank).min(1).values.max()
                            for p in patchcore.embed(test)])
    torch.testing.assert_close(scores.double(), expected, rtol=1e-4, atol=1e-4)


def test_bank_is_the_coreset_share_and_the_encoder_stays_frozen_and_unchanged():
    evaluator = build(PatchcoreParams(coreset_ratio=0.25), make_ctx())
    backbone = evaluator.model.backbone
    before = state_snapshot(backbone)
    evaluator.fit(batches(8))
    out = evaluator.score(batches(3, seed=1)[0])
    assert evaluator.model.memory_bank.shape == (int(8 * 16 * 0.25), 384) and evaluator.model.patches == []
    assert out["anomaly_map"].shape == (3, 1, 32, 32) and out["image_score"].shape == (3,)
    assert changed_entries(backbone, before) == [] and not backbone.training
    assert not any(p.requires_grad for p in backbone.parameters())


def test_a_bank_over_the_memory_cap_is_refused_naming_coreset_ratio_before_fitting():
    evaluator = build(PatchcoreParams(max_memory_mb=0.5), make_ctx())  # 4 images x 16 patches: 0.10 MB
    with pytest.raises(TrainingError, match=r"coreset_ratio=0\.1.*max_memory_mb=0\.5") as error:
        evaluator.fit(batches(40))
    assert "training patches" in str(error.value)
    assert evaluator.model.memory_bank is None and len(evaluator.model.patches) < 10  # stopped early


def test_patchcore_without_training_images_names_the_problem():
    with pytest.raises(DataError, match="no training images"):
        build(PatchcoreParams(), make_ctx()).fit([])


def test_planted_defects_score_above_normal_images(synth_root, tmp_path):
    spec = parse_spec({
        "kind": "evaluate", "method": {"method": "patchcore"}, "seed": 0,
        "data": {"dataset": "mvtec", "root": str(synth_root / "mvtec"), "categories": ["carpet", "tile"],
                 "resize": 64, "crop": 64, "batch_size": 8},
    })
    run(spec, tmp_path, report=lambda metrics, checkpoint_dir=None: None, device="cpu")
    results = json.loads((tmp_path / "results.json").read_text())["categories"]
    for category in ("carpet", "tile"):
        assert results[category]["image_auroc"] == 1.0  # every defective image above every normal one
        assert results[category]["pixel_auroc"] > 0.9
