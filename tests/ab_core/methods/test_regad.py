import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ab_core.methods.regad as regad
from ab_core.components.registration import FeatureRegistration, symmetric_loss
from ab_core.components.registration_training import RegistrationTraining
from ab_core.contracts import BuildContext, RepeatedEvaluator
from ab_core.data.episodes import episodes, seeded_generator
from ab_core.data.support_augment import VIEWS_PER_IMAGE, support_views
from ab_core.errors import CheckpointError, DataError, SpecError
from ab_core.models.backbone import ResNetBackbone
from ab_core.runner import run
from ab_core.specs import BackboneSpec, DataSpec, parse_spec

QUICK = {"shots": 2, "inferences": 2, "epochs": 1, "steps": 1, "batch_size": 2, "n_features": 16}


def make_ctx(root: Path, category: str = "carpet", seed: int = 0) -> BuildContext:
    data = DataSpec(dataset="mvtec", root=str(root), resize=32, crop=32, batch_size=8)
    return BuildContext(BackboneSpec(), data, 2, torch.device("cpu"), seed, category=category)


def spec(root: Path, **method):
    return parse_spec({"kind": "evaluate", "method": {"method": "regad", **QUICK, **method},
                       "data": {"dataset": "mvtec", "root": str(root), "categories": ["carpet"], "resize": 32,
                                "crop": 32, "batch_size": 8}})  # fmt: skip


def test_symmetric_loss_is_the_negative_cosine_closed_form_with_stop_gradient():
    p1, z2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])  # cos = 1 / sqrt 2
    p2 = torch.tensor([[0.0, 2.0]], requires_grad=True)
    z1 = torch.tensor([[0.0, -3.0]], requires_grad=True)  # cos(p2, z1) = -1
    loss = symmetric_loss(p1.view(1, 2, 1, 1), z1.view(1, 2, 1, 1), p2.view(1, 2, 1, 1), z2.view(1, 2, 1, 1))
    assert loss.item() == pytest.approx(-(2**-0.5) / 2 + 1 / 2)
    loss.backward()
    assert z1.grad is None and p2.grad is not None  # no gradient through the target branch


def test_support_views_are_the_original_then_21_transforms_of_each_image():
    images = torch.rand(2, 3, 16, 16)
    views = support_views(images)
    assert VIEWS_PER_IMAGE == 22 and views.shape == (44, 3, 16, 16)
    torch.testing.assert_close(views[:2], images)
    torch.testing.assert_close(views[34:36], images.flip(-1))  # after 8 rotations and 8 shifts
    assert torch.allclose(views[36, 0], views[36, 1]) and torch.allclose(views[36, 1], views[36, 2])
    torch.testing.assert_close(views[40:42], images.flip(-1).flip(-2))  # the half turn


def test_episodes_never_mix_categories_nor_support_a_query_by_itself():
    sizes = {"a": 5, "b": 3}
    drawn = episodes(sizes, batch_size=2, shots=4, generator=seeded_generator("t", 0))
    assert sorted(len(e.queries) for e in drawn) == [1, 1, 2, 2, 2]
    for name in sizes:
        assert sorted(q for e in drawn if e.category == name for q in e.queries) == list(range(sizes[name]))
    for episode in drawn:
        for query, supports in zip(episode.queries, episode.supports, strict=True):
            assert query not in supports and all(0 <= s < sizes[episode.category] for s in supports)


def test_regad_trains_reading_only_the_other_categories(synth_root, monkeypatch):
    opened, read = [], []
    real_open = regad.open_dataset

    def recording_open(data, split, category=None, seed=0):
        dataset = real_open(data, split, category, seed)
        opened.append((split, category))
        real_items = dataset.__getitems__
        dataset.__getitems__ = lambda indices: (batch := real_items(indices), read.extend(batch.paths))[0]
        return dataset

    monkeypatch.setattr(regad, "open_dataset", recording_open)
    evaluator = regad.build(regad.RegadParams(**QUICK), make_ctx(synth_root / "mvtec"))
    evaluator.fit([])
    others = sorted(p.name for p in (synth_root / "mvtec").iterdir() if p.name != "carpet")
    assert sorted(c for s, c in opened if c != "carpet") == others and all(s == "train" for s, _ in opened)
    assert read and not [p for p in read if "/carpet/" in p]
    assert evaluator.fit_record["train_categories"] == others
    support = evaluator.draw(0)["support"]
    assert len(support) == 2 and all(p.startswith("carpet/train/good/") for p in support)


@pytest.fixture(scope="module")
def first_run(synth_root, tmp_path_factory) -> Path:
    """One trained RegAD evaluation of carpet (its output folder)."""
    out = tmp_path_factory.mktemp("regad-first")
    run(spec(synth_root / "mvtec"), out, device="cpu")
    return out


def test_planted_defects_score_above_normal_and_results_name_each_draws_support(first_run):
    tmp_path = first_run
    carpet = json.loads((tmp_path / "results.json").read_text())["categories"]["carpet"]
    assert carpet["image_auroc"] >= 0.75 and carpet["pixel_auroc"] > 0.7
    rows = (tmp_path / "carpet" / "scores.csv").read_text().splitlines()[1:]  # the first draw's scores
    assert {"image_auroc_std", "pixel_auroc_std"} <= set(carpet) and carpet["registration_trained"]
    written = json.loads((tmp_path / "results.json").read_text())["categories"]["carpet"]["draws"]
    assert [d["draw"] for d in written] == [0, 1] and all(len(d["support"]) == 2 for d in written)
    assert carpet["pixel_auroc"] == pytest.approx(np.mean([d["pixel_auroc"] for d in written]))
    assert carpet["pixel_auroc_std"] == pytest.approx(np.std([d["pixel_auroc"] for d in written]))
    assert len(rows) == carpet["images"]


def test_the_support_set_is_seeded(synth_root):
    def supports(seed: int) -> list[list[str]]:
        ctx = make_ctx(synth_root / "mvtec", seed=seed)
        evaluator = regad.RegadEvaluator(regad.RegadParams(**QUICK), ctx)
        evaluator.pool = regad.open_dataset(evaluator.ctx.data, "train", "carpet")
        return [evaluator.support(i).paths for i in range(3)]

    first = supports(0)
    assert supports(0) == first and len({tuple(s) for s in first}) > 1 and supports(1) != first


def test_frozen_backbone_layers_and_bn_statistics_stay_bit_identical(synth_root):
    torch.manual_seed(0)
    backbone = ResNetBackbone().eval()
    with torch.no_grad():  # non-default statistics, so that any update would show
        for module in backbone.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
    source = {k: v.clone() for k, v in backbone.state_dict().items()}
    ctx = make_ctx(synth_root / "mvtec")
    frozen, tuned = FeatureRegistration(backbone, 32, freeze_backbone=True), FeatureRegistration(backbone, 32)
    plan = RegistrationTraining(epochs=1, steps=1, batch_size=2, shots=1, lr=0.1, momentum=0.9)
    sets = regad.training_sets(ctx, ["grid", "wood"])
    stn_before = {k: v.clone() for k, v in frozen.transformers.state_dict().items()}
    for network in (frozen, tuned):
        assert plan.run(network, sets, ctx) == 1
    renamed = {"conv1": "stem.0", "bn1": "stem.1", "layer1": "layers.0", "layer2": "layers.1",
               "layer3": "layers.2"}  # fmt: skip
    mine = {f"{renamed[k.split('.', 1)[0]]}.{k.split('.', 1)[1]}": v for k, v in source.items()
            if k.split(".", 1)[0] in renamed}  # fmt: skip
    state = frozen.state_dict()
    assert all(torch.equal(state[k], v) for k, v in mine.items()), "a frozen layer changed"
    assert any(not torch.equal(frozen.transformers.state_dict()[k], v) for k, v in stn_before.items())
    tuned_state = tuned.state_dict()
    assert any(not torch.equal(tuned_state[k], v) for k, v in mine.items()), "layers 1-3 not fine-tuned"
    assert all(torch.equal(backbone.state_dict()[k], v) for k, v in source.items()), "the source changed"


def test_a_saved_registration_is_reused_without_training(synth_root, first_run, tmp_path, monkeypatch):
    first = json.loads((first_run / "results.json").read_text())["categories"]["carpet"]
    assert (first_run / "carpet" / "registration.pt").is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("trained although a registration network was given")

    monkeypatch.setattr(RegistrationTraining, "run", no_training)
    again = run(spec(synth_root / "mvtec", registration=str(first_run)), tmp_path / "again",
                device="cpu")["categories"]["carpet"]  # fmt: skip
    assert again["registration_trained"] is False and again["registration"].endswith("carpet/registration.pt")
    assert [d["support"] for d in again["draws"]] == [d["support"] for d in first["draws"]]
    assert again["pixel_auroc"] == pytest.approx(first["pixel_auroc"], abs=1e-6)
    assert not (tmp_path / "again" / "carpet" / "registration.pt").exists()


def test_bad_input_names_the_field(synth_root, tmp_path, monkeypatch):
    root = synth_root / "mvtec"
    with pytest.raises(SpecError, match="method.train_categories"):
        spec(root, train_categories=["carpet"])
    with pytest.raises(SpecError, match="method.registration"):
        parse_spec({**spec(root).model_dump(mode="json"), "method": {"method": "regad", "registration": "/x"},
                    "backbone": {"weights": "imagenet"}})  # fmt: skip
    monkeypatch.setattr(RegistrationTraining, "run", lambda *a, **k: pytest.fail("trained before checking"))
    with pytest.raises(DataError, match="method.shots: 9 exceeds the 8 train images"):
        regad.build(regad.RegadParams(**{**QUICK, "shots": 9}), make_ctx(root)).fit([])
    lonely = tmp_path / "one"
    lonely.mkdir()
    (lonely / "carpet").symlink_to(root / "carpet")
    with pytest.raises(DataError, match="method.train_categories: no category but the target 'carpet'"):
        regad.build(regad.RegadParams(**QUICK), make_ctx(lonely)).fit([])
    params = regad.RegadParams(**{**QUICK, "registration": {"from_job": "job-1"}})
    with pytest.raises(CheckpointError, match="resolved by the service"):
        regad.build(params, make_ctx(root)).fit([])
    assert isinstance(regad.build(params, make_ctx(root)), RepeatedEvaluator)
