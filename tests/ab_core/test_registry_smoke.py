"""Every registered method runs two steps (or one tiny evaluation) on tiny CPU data through the runner."""

from __future__ import annotations

import math

import pytest

from ab_core import registry
from ab_core.runner import run
from ab_core.specs import parse_spec

# keep the evaluators' own training short in the smoke test; every other param stays at its default
SMOKE_PARAMS = {
    "rd4ad": {"epochs": 1},
    "linear_probe": {"epochs": 2},
    "cflow": {"epochs": 1, "coupling_blocks": 2},
    "psco": {"queue_size": 64, "hidden_dim": 256},  # the default 16384 x 256 queue is a 16 MB checkpoint
    "relative_position": {"patch_size": 8, "gap": 2, "jitter": 1},  # the default 48 px grid needs 204 px
    "regad": {"epochs": 1, "steps": 1, "batch_size": 2, "shots": 2, "inferences": 2, "n_features": 16},
}


def smoke_spec(name: str, role: str, synth_root):
    if role == "pretrain" or name == "linear_probe":
        data = {"dataset": "image_folder", "root": str(synth_root / "classes")}
    else:
        mvtec = synth_root / "mvtec"
        data = {
            "dataset": "mvtec",
            "root": str(mvtec),
            "categories": [sorted(p.name for p in mvtec.iterdir())[0]],
        }
    return parse_spec(
        {
            "kind": role,
            "method": {"method": name, **SMOKE_PARAMS.get(name, {})},
            "backbone": {"arch": archs[0] if (archs := registry.get(name).archs) else "resnet18"},
            "data": {**data, "resize": 32, "crop": 32, "batch_size": 4},
            "schedule": {"steps": 2},
        }
    )


@pytest.mark.parametrize("name", sorted(registry.entries()))
def test_every_registered_method_runs_on_tiny_cpu_data(name, synth_root, tmp_path):
    entry = registry.get(name)
    reports = []
    result = run(
        smoke_spec(name, entry.role, synth_root),
        tmp_path,
        report=lambda m, checkpoint_dir=None: reports.append(m),
        device="cpu",
    )
    assert reports, "the method reported no progress"
    if entry.role == "pretrain":
        assert result["steps"] == 2 and result["checkpoint"]
        assert math.isfinite(result["metrics"]["loss"])
    else:
        assert (tmp_path / "results.json").is_file() and result
