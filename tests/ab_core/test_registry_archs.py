"""Every registered method on the archs beyond resnet18: it builds and runs one step, or its spec is refused.

CPU steps of ResNet-50 are slow, so each method runs one step (or one tiny fit) of batch 2 at 32 px,
straight through the registry, on resnet50. wide_resnet50_2 has resnet50's taps and pooled width
exactly, cbam_resnet18 and unet_resnet18 resnet18's (the smoke test's arch), asserted below; they differ
only inside their blocks, which a method sees only where it builds modules from the arch's layout
(RD4AD). Every method's spec on each of them is validated, and those methods run a step on them.
"""

from __future__ import annotations

import math

import pytest
import torch

from ab_core import registry
from ab_core.contracts import Batch, BuildContext, RepeatedEvaluator
from ab_core.errors import SpecError
from ab_core.models.archs import arch
from ab_core.spec_sections import BackboneSpec, DataSpec
from ab_core.specs import parse_spec
from tests.ab_core.test_registry_smoke import SMOKE_PARAMS

# archs whose taps and pooled width equal another's: a method that reads only those runs the same on both
SAME_WIDTHS = [("wide_resnet50_2", "resnet50"), ("cbam_resnet18", "resnet18"), ("unet_resnet18", "resnet18")]
# what reads more: RD4AD builds its bottleneck and decoder from the arch's blocks and width per group; a
# pretrainer and an evaluator step the CBAM blocks' attention (forward and backward)
READ_INNER_LAYOUT = [("rd4ad", "wide_resnet50_2"), ("rd4ad", "cbam_resnet18"), ("simclr", "cbam_resnet18"),
                     ("padim", "cbam_resnet18")]


def data_spec(entry: registry.MethodEntry, synth_root) -> DataSpec:
    if entry.role == "pretrain" or entry.task == "classification":
        classes = str(synth_root / "classes")
        return DataSpec(dataset="image_folder", root=classes, resize=32, crop=32, batch_size=2)
    mvtec = synth_root / "mvtec"
    first = sorted(p.name for p in mvtec.iterdir())[0]
    return DataSpec(dataset="mvtec", root=str(mvtec), categories=[first], resize=32, crop=32, batch_size=2)


def tiny_batch(seed: int) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (2, 3, 32, 32), generator=generator, dtype=torch.uint8)
    masks = torch.zeros(2, 1, 32, 32, dtype=torch.uint8)
    return Batch(images, torch.tensor([0, 1]), masks, ["a.png", "b.png"])


def raw_spec(name: str, arch_name: str, data: DataSpec) -> dict:
    entry = registry.get(name)
    return {"kind": entry.role, "method": {"method": name, **SMOKE_PARAMS.get(name, {})},
            "backbone": {"arch": arch_name}, "data": data.model_dump()}


def run_one_step(name: str, arch_name: str, synth_root, out_dir) -> None:
    entry = registry.get(name)
    data = data_spec(entry, synth_root)
    spec = parse_spec(raw_spec(name, arch_name, data))
    torch.manual_seed(0)
    anomaly = entry.role == "evaluate" and entry.task == "anomaly"
    ctx = BuildContext(BackboneSpec(arch=arch_name), data, 2 if anomaly else 3, torch.device("cpu"), seed=0,
                       category=data.categories[0] if anomaly and data.categories else None, out_dir=out_dir)
    method = entry.build(spec.method, ctx)
    if entry.role == "pretrain":
        method.train()
        loss = method.training_step(tiny_batch(0))
        loss.backward()
        assert math.isfinite(loss.item())
        assert any(p.grad is not None for p in method.backbone.parameters()), "no gradient reached it"
        return
    method.fit([tiny_batch(0)])
    if isinstance(method, RepeatedEvaluator):  # RegAD: a seeded support set is drawn before scoring
        method.draw(0)
    out = method.score(tiny_batch(1))
    scores = out["logits"] if entry.task == "classification" else out["image_score"]
    assert scores.shape[0] == 2 and torch.isfinite(scores).all()


@pytest.mark.parametrize("name", sorted(registry.entries()))
def test_every_method_runs_a_step_on_resnet50_or_refuses_it(name, synth_root, tmp_path):
    entry = registry.get(name)
    if entry.arch_problem("resnet50"):
        with pytest.raises(SpecError, match=f"method {name!r} cannot use 'resnet50'"):
            parse_spec(raw_spec(name, "resnet50", data_spec(entry, synth_root)))
        return
    run_one_step(name, "resnet50", synth_root, tmp_path)


@pytest.mark.parametrize(("arch_name", "like"), SAME_WIDTHS)
@pytest.mark.parametrize("name", sorted(registry.entries()))
def test_every_method_takes_an_arch_as_it_takes_the_one_with_its_widths(name, arch_name, like, synth_root):
    entry = registry.get(name)
    raw = raw_spec(name, arch_name, data_spec(entry, synth_root))
    if entry.arch_problem(arch_name):
        with pytest.raises(SpecError, match=f"method {name!r} cannot use {arch_name!r}"):
            parse_spec(raw)
    else:
        assert parse_spec(raw).backbone.arch == arch_name
    if arch_name != "unet_resnet18":  # the one arch with a decoder: reconstruction takes it alone
        assert (entry.arch_problem(arch_name) is None) == (entry.arch_problem(like) is None)


@pytest.mark.parametrize(("arch_name", "like"), SAME_WIDTHS)
def test_an_arch_shows_methods_the_widths_of_the_one_it_is_tested_like(arch_name, like):
    tested, reference = arch(arch_name), arch(like)
    assert tested.channels == reference.channels and tested.feature_dim == reference.feature_dim
    assert tested.layers == reference.layers


@pytest.mark.parametrize(("name", "arch_name"), READ_INNER_LAYOUT)
def test_methods_that_read_more_than_the_widths_run_a_step_on_the_arch(name, arch_name, synth_root, tmp_path):
    run_one_step(name, arch_name, synth_root, tmp_path)
