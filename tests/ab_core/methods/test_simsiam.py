"""SimSiam: a step trains every head, the collapse monitor flags a collapsed model (not a healthy one),
and a collapsed run ends with `collapsed: true` and one warning report."""

from __future__ import annotations

import torch

from ab_core.methods import simsiam
from ab_core.methods.simsiam import SimSiamParams, build
from ab_core.runner import run
from ab_core.specs import parse_spec
from tests.ab_core.methods.tiny import make_batch, make_ctx

SMALL = SimSiamParams(dim=256, pred_dim=64, collapse_patience=3)


def test_a_step_gives_a_loss_in_minus_one_one_with_gradients_on_every_parameter():
    torch.manual_seed(0)
    model = build(SMALL, make_ctx())
    loss = model.training_step(make_batch())
    assert -1 <= loss.item() <= 1
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert set(model.step_metrics()) == {"output_std"}


def monitor_over_steps(model, steps: int) -> list[list[str]]:
    warnings = []
    with torch.no_grad():
        for _ in range(steps):
            model.training_step(make_batch())
            warnings.append(model.on_report(model.step_metrics()))
    return warnings


def test_a_model_with_a_constant_output_is_flagged_collapsed_after_patience_reports():
    torch.manual_seed(0)
    model = build(SMALL, make_ctx())
    with torch.no_grad():
        model.projector[0].weight.zero_()  # every image maps to one point: the output BN gives z = 0
    warnings = monitor_over_steps(model, 4)
    assert model.step_metrics()["output_std"] == 0.0
    assert [len(w) for w in warnings] == [0, 0, 1, 0]  # flagged at the 3rd report, once
    assert "collapse" in warnings[2][0]
    assert model.result_flags() == {"collapsed": True}


def test_a_healthy_random_init_is_not_flagged():
    torch.manual_seed(0)
    model = build(SMALL, make_ctx())
    warnings = monitor_over_steps(model, 4)
    assert model.step_metrics()["output_std"] * 256**0.5 > 0.5  # about 1 when spread over the sphere
    assert warnings == [[]] * 4
    assert model.result_flags() == {"collapsed": False}


def test_a_collapsed_run_ends_collapsed_with_one_warning_report(synth_root, tmp_path, monkeypatch):
    monkeypatch.setattr(simsiam, "output_std", lambda z: torch.zeros(()))  # a run whose outputs collapsed
    spec = parse_spec({
        "kind": "pretrain",
        "method": {"method": "simsiam", "dim": 64, "pred_dim": 16, "collapse_patience": 2},
        "data": {"dataset": "image_folder", "root": str(synth_root / "classes"), "resize": 32, "crop": 32,
                 "batch_size": 4},
        "schedule": {"steps": 3},
    })
    reports = []
    result = run(spec, tmp_path, report=lambda m, checkpoint_dir=None: reports.append(dict(m)), device="cpu")
    assert result["collapsed"] is True
    assert [r["collapsed"] for r in reports] == [False, True, True]
    assert ["warning" in r for r in reports] == [False, True, False]
    assert reports[1]["warning"].startswith("representation collapse")
