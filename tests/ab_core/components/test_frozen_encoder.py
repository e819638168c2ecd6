"""Every registered evaluator leaves the encoder it is given unchanged, bit for bit: weights and BN stats."""

from __future__ import annotations

import pytest
import torch

from ab_core import registry
from ab_core.components import encoder as encoder_module
from ab_core.components.encoder import changed_entries, state_snapshot
from ab_core.contracts import BuildContext, RepeatedEvaluator
from ab_core.spec_sections import BackboneSpec
from tests.ab_core.test_registry_archs import data_spec, tiny_batch
from tests.ab_core.test_registry_smoke import SMOKE_PARAMS

EVALUATORS = sorted(name for name, entry in registry.entries().items() if entry.role == "evaluate")


@pytest.mark.parametrize("name", EVALUATORS)
def test_every_evaluator_leaves_its_frozen_encoder_unchanged(name, synth_root, tmp_path, monkeypatch):
    built: list[tuple[torch.nn.Module, dict[str, torch.Tensor]]] = []
    build_backbone = encoder_module.build_backbone

    def recording(spec):  # what frozen_backbone hands the evaluator, with its state at that moment
        backbone = build_backbone(spec)
        with torch.no_grad():  # non-default BN statistics, so that a train-mode pass would show
            for module in backbone.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.uniform_(-0.1, 0.1)
                    module.running_var.uniform_(0.5, 1.5)
        built.append((backbone, state_snapshot(backbone)))
        return backbone

    monkeypatch.setattr(encoder_module, "build_backbone", recording)
    entry = registry.get(name)
    data = data_spec(entry, synth_root)
    anomaly = entry.task == "anomaly"
    params = entry.params.model_validate({"method": name, **SMOKE_PARAMS.get(name, {})})
    ctx = BuildContext(BackboneSpec(), data, 2 if anomaly else 3, torch.device("cpu"), seed=0,
                       category=data.categories[0] if anomaly and data.categories else None, out_dir=tmp_path)
    torch.manual_seed(0)
    evaluator = entry.build(params, ctx)
    evaluator.fit([tiny_batch(0), tiny_batch(1)])
    if isinstance(evaluator, RepeatedEvaluator):
        evaluator.draw(0)
    evaluator.score(tiny_batch(2))
    assert built, f"{name} took no encoder from components.encoder.frozen_backbone"
    for backbone, before in built:
        assert changed_entries(backbone, before) == []
        assert not any(p.requires_grad for p in backbone.parameters())
