import itertools

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from ab_core.components.encoder import changed_entries, prepare, state_snapshot
from ab_core.contracts import Batch, BuildContext
from ab_core.data.loader import open_dataset
from ab_core.evaluation.run import EpochBatches
from ab_core.evaluation.scoring import anomaly_metrics, score_dataset
from ab_core.methods.cflow import CflowParams, build
from ab_core.specs import BackboneSpec, DataSpec


def make_ctx(crop: int = 32, root: str = "unused", category: str | None = None) -> BuildContext:
    data = DataSpec(dataset="mvtec", root=root, categories=[category] if category else None, resize=crop,
                    crop=crop)
    return BuildContext(BackboneSpec(), data, 2, torch.device("cpu"), seed=0)


def batches(count: int = 2, size: int = 4, crop: int = 32) -> list[Batch]:
    generator = torch.Generator().manual_seed(1)
    images = [torch.randint(0, 256, (size, 3, crop, crop), generator=generator, dtype=torch.uint8)
              for _ in range(count)]
    return [Batch(x, torch.zeros(size, dtype=torch.int64)) for x in images]


def small(**overrides) -> CflowParams:
    return CflowParams(**({"epochs": 1, "coupling_blocks": 2, "condition_vector": 16} | overrides))


def test_planted_defects_score_above_normal_images_on_the_synthetic_data(synth_root):
    torch.manual_seed(0)
    ctx = make_ctx(32, str(synth_root / "mvtec"), "carpet")
    train, test = (open_dataset(ctx.data, split, "carpet", 0) for split in ("train", "test"))
    evaluator = build(CflowParams(epochs=2, layers=["layer1", "layer2", "layer3"]), ctx)
    evaluator.fit(EpochBatches(train, 8, seed=0))
    metrics = anomaly_metrics(score_dataset(evaluator, test, 8, 0))
    assert metrics["image_auroc"] >= 0.9
    assert metrics["pixel_auroc"] >= 0.75


def test_fit_leaves_the_encoder_bit_identical_and_in_eval_mode_and_trains_every_flow():
    torch.manual_seed(0)
    evaluator = build(small(), make_ctx())
    encoder = evaluator.model.encoder
    with torch.no_grad():  # non-default BN statistics, so that any update would show
        for module in encoder.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    before, flows_before = state_snapshot(encoder), state_snapshot(evaluator.model.decoders)
    evaluator.model.train()
    assert not any(module.training for module in encoder.modules())
    evaluator.fit(batches())
    assert changed_entries(encoder, before) == []
    assert all(p.grad is None for p in encoder.parameters())
    changed = changed_entries(evaluator.model.decoders, flows_before)
    for index in range(3):
        assert any(name.startswith(f"{index}.") for name in changed), f"flow {index} did not train"
    assert not any(name.endswith("perm") for name in changed)  # the permutations are fixed


def test_each_layer_sees_every_fiber_once_per_batch_in_steps_of_n():
    torch.manual_seed(0)
    evaluator = build(small(fiber_batch_size=24, layers=["layer1", "layer2"]), make_ctx())
    sizes: dict[int, list[int]] = {0: [], 1: []}
    for index, flow in enumerate(evaluator.model.flows()):
        original = flow.log_likelihood_per_dim

        def spy(e, c, *position, index=index, original=original):
            sizes[index].append(e.shape[0])
            return original(e, c, *position)

        flow.log_likelihood_per_dim = spy
    evaluator.fit(batches(1, 2))
    # 2 images of 32 px: layer1 2*8*8 = 128 fibers -> 5 steps (24 x 4 + 32); layer2 2*4*4 = 32 -> 1 step
    assert sizes[0] == [24, 24, 24, 24, 32] and sizes[1] == [32]


def test_anomaly_map_is_the_layers_normalised_likelihoods_upsampled_summed_and_inverted():
    torch.manual_seed(0)
    evaluator = build(small(), make_ctx())
    evaluator.fit(batches())
    images = torch.randn(3, 3, 32, 32)
    model = evaluator.model
    expected = torch.zeros(3, 1, 32, 32)
    for ll, top in zip(model.log_likelihoods(images), model.ll_max, strict=True):
        expected += F.interpolate(torch.exp(ll - top)[:, None], size=(32, 32), mode="bilinear",
                                  align_corners=True)
    torch.testing.assert_close(model.anomaly_maps(images), 3 - expected)


def test_ll_max_is_the_largest_likelihood_of_the_last_epoch_and_scores_do_not_depend_on_the_batch():
    torch.manual_seed(0)
    evaluator = build(small(epochs=2), make_ctx())
    seen: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for index, flow in enumerate(evaluator.model.flows()):
        original = flow.log_likelihood_per_dim

        def spy(e, c, *position, index=index, original=original):
            ll = original(e, c, *position)
            seen[index].append(float(ll.detach().max()))
            return ll

        flow.log_likelihood_per_dim = spy
    evaluator.fit(batches())
    model = evaluator.model
    for layer in range(3):  # 2 batches, each one step per layer: the last epoch's are the last two
        assert float(model.ll_max[layer]) == pytest.approx(max(seen[layer][-2:]), abs=1e-6)
        assert len(seen[layer]) == 4
    test = batches(1, 4)[0]
    together = evaluator.score(test)
    alone = evaluator.score(Batch(test.images[2:3], test.labels[2:3]))
    torch.testing.assert_close(alone["anomaly_map"][0], together["anomaly_map"][2])
    assert together["image_score"].shape == (4,) and together["anomaly_map"].shape == (4, 1, 32, 32)
    torch.testing.assert_close(together["image_score"], together["anomaly_map"].flatten(1).amax(1))


def test_cflow_reports_a_falling_likelihood_loss_per_epoch():
    torch.manual_seed(0)
    evaluator = build(small(epochs=3, lr=1e-3), make_ctx())
    losses = []
    evaluator.on_epoch = lambda epoch, loss: losses.append((epoch, loss))
    evaluator.fit(batches(1))
    assert [e for e, _ in losses] == [0, 1, 2]
    assert losses[-1][1] < losses[0][1]


def test_defaults_follow_the_paper_and_anomalib():
    params = CflowParams()
    assert params.layers == ["layer2", "layer3", "layer4"]
    assert (params.condition_vector, params.coupling_blocks, params.clamp) == (128, 8, 1.9)
    assert (params.fiber_batch_size, params.lr) == (64, 1e-4)
    assert CflowParams(layers=["layer3", "layer1"]).layers == ["layer1", "layer3"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("condition_vector", 130, "multiple of 4"),
    ("layers", ["layer2", "layer2"], "repeat"),
    ("layers", ["layer5"], "layer1"),
    ("fiber_batch_size", 0, "greater than or equal to 1"),
])
def test_bad_params_name_the_field(field, value, message):
    with pytest.raises(ValidationError, match=message) as info:
        CflowParams(**{field: value})
    assert info.value.errors()[0]["loc"][0] == field


def test_the_encoding_factors_rebuild_the_positional_encoding_exactly():
    model = build(small(), make_ctx()).model
    columns, rows = model.encoding_factors(3, 5, torch.device("cpu"))
    y, x = torch.arange(15) // 5, torch.arange(15) % 5
    assert torch.equal(torch.cat([columns[x], rows[y]], dim=1), model.encoding(3, 5, torch.device("cpu")))


def test_cached_layer_by_layer_training_equals_the_joint_loop_that_recomputes_features():
    """One flow at a time through all epochs on features computed once (the default when they fit)
    takes the same steps as every flow per batch per epoch on recomputed features (cache_mb=0)."""
    runs = []
    for cache_mb in (1024.0, 0.0):
        torch.manual_seed(0)
        ctx = make_ctx()
        evaluator = build(small(epochs=3, lr=1e-3), ctx)
        losses: list[tuple[int, float]] = []
        evaluator.on_epoch = lambda epoch, loss, losses=losses: losses.append((epoch, loss))
        layer_steps: list[int] = []
        for index, flow in enumerate(evaluator.model.flows()):
            original = flow.log_likelihood_per_dim

            def spy(e, c, *position, index=index, original=original, steps=layer_steps):
                steps.append(index)
                return original(e, c, *position)

            flow.log_likelihood_per_dim = spy
        evaluator.fit_images([prepare(b.images, ctx) for b in batches()], cache_mb=cache_mb)
        runs.append((evaluator.model.decoders.state_dict(), evaluator.model.ll_max, losses, layer_steps))
    (cached, cached_max, cached_losses, cached_order), (joint, joint_max, joint_losses, joint_order) = runs
    runs_of_one_flow = [index for index, _ in itertools.groupby(cached_order)]
    assert runs_of_one_flow == [2, 1, 0]  # one flow at a time, the largest (deepest layer) first
    assert joint_order != sorted(joint_order, reverse=True)  # the joint loop interleaves them
    assert all(torch.equal(cached[name], joint[name]) for name in joint)
    assert torch.equal(cached_max, joint_max)
    assert cached_losses == joint_losses and len(joint_losses) == 3


class Reshuffled:
    """A loader like `EpochBatches`: every pass the same 8 images in a new order and grouping."""

    def __init__(self, images):
        self.images, self.epoch = images, 0

    def __iter__(self):
        order = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(self.epoch))
        self.epoch += 1
        return iter(self.images[order].split(3))  # batches of 3, 3, 2


def test_cached_training_follows_a_loader_that_reshuffles_each_epoch():
    images = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    runs = []
    for cache_mb in (1024.0, 0.0):
        torch.manual_seed(0)
        evaluator = build(small(epochs=3, lr=1e-3), make_ctx())
        losses: list[float] = []
        evaluator.on_epoch = lambda epoch, loss, losses=losses: losses.append(loss)
        evaluator.fit_images(Reshuffled(images), cache_mb=cache_mb)
        runs.append((evaluator.model.decoders.state_dict(), evaluator.model.ll_max, losses))
    (cached, cached_max, cached_losses), (joint, joint_max, joint_losses) = runs
    for name in joint:
        torch.testing.assert_close(cached[name], joint[name], atol=1e-6, rtol=0)
    torch.testing.assert_close(cached_max, joint_max, atol=1e-6, rtol=0)
    assert cached_losses == pytest.approx(joint_losses, abs=1e-6)
