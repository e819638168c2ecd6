"""The pretraining loop: determinism, resume equivalence, checkpoint format, and its errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from torchvision.models import resnet18

from ab_core.checkpoints import BACKBONE_FILE, META_FILE, latest_checkpoint
from ab_core.errors import TrainingError
from ab_core.runner import run
from ab_core.specs import parse_spec


def simclr_spec(synth_root, **schedule):
    return parse_spec(
        {
            "kind": "pretrain",
            "method": {"method": "simclr", "temperature": 0.5},
            "data": {
                "dataset": "image_folder",
                "root": str(synth_root / "classes"),
                "resize": 32,
                "crop": 32,
                "batch_size": 8,
            },
            "optim": {"name": "sgd", "lr": 0.05},
            "schedule": {"steps": 4, "checkpoint_every": 2, **schedule},
            "seed": 7,
        }
    )


def recorded_run(spec, out, resume=None):
    history = []
    run(spec, out, report=lambda m, checkpoint_dir=None: history.append(m), resume_from=resume, device="cpu")
    return history


def backbone_state(checkpoint):
    return torch.load(checkpoint / BACKBONE_FILE, weights_only=True)


def test_the_same_seed_gives_the_same_losses(synth_root, tmp_path):
    first = recorded_run(simclr_spec(synth_root), tmp_path / "a")
    second = recorded_run(simclr_spec(synth_root), tmp_path / "b")
    assert [m["loss"] for m in first] == [m["loss"] for m in second]
    assert len({m["loss"] for m in first}) > 1  # the loss actually moves


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(synth_root, tmp_path):
    spec = simclr_spec(synth_root)
    full = recorded_run(spec, tmp_path / "full")
    halfway = tmp_path / "full" / "checkpoints" / "step_00000002"
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(halfway, resumed_dir / "checkpoints" / halfway.name)
    resumed = recorded_run(spec, resumed_dir, resume="auto")

    assert [m["step"] for m in resumed] == [3, 4]
    assert [m["loss"] for m in resumed] == [m["loss"] for m in full[2:]]
    final_full = backbone_state(latest_checkpoint(tmp_path / "full"))
    final_resumed = backbone_state(latest_checkpoint(resumed_dir))
    assert final_full.keys() == final_resumed.keys()
    assert all(torch.equal(final_full[k], final_resumed[k]) for k in final_full)


def test_a_checkpoint_loads_into_plain_torchvision_resnet18_strictly(synth_root, tmp_path):
    recorded_run(simclr_spec(synth_root, steps=1), tmp_path)
    checkpoint = latest_checkpoint(tmp_path)
    state = torch.load(checkpoint / BACKBONE_FILE, weights_only=True)
    assert not any(k.startswith("module.") for k in state)
    model = resnet18()
    model.fc = torch.nn.Identity()
    model.load_state_dict(state, strict=True)

    meta = json.loads((checkpoint / META_FILE).read_text())
    assert meta["spec_hash"] == simclr_spec(synth_root, steps=1).spec_hash()
    assert meta["arch"] == "resnet18" and meta["step"] == 1
    assert len(meta["dataset_fingerprint"]) == 64 and meta["code_version"]
    assert "loss" in meta["metrics"]


def test_only_the_newest_checkpoints_are_kept(synth_root, tmp_path):
    recorded_run(simclr_spec(synth_root, steps=4, checkpoint_every=1, keep_checkpoints=2), tmp_path)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert kept == ["step_00000003", "step_00000004"]


def test_resuming_a_different_job_is_refused_with_the_difference(synth_root, tmp_path):
    recorded_run(simclr_spec(synth_root, steps=1), tmp_path)
    other = parse_spec({**simclr_spec(synth_root).model_dump(mode="json"), "seed": 8})
    with pytest.raises(TrainingError, match="differs in 'seed'"):
        recorded_run(other, tmp_path, resume="auto")


def test_a_dataset_smaller_than_one_batch_is_named(synth_root, tmp_path):
    spec = parse_spec(
        {
            **simclr_spec(synth_root).model_dump(mode="json"),
            "data": {
                "dataset": "image_folder",
                "root": str(synth_root / "classes"),
                "resize": 32,
                "crop": 32,
                "batch_size": 4096,
            },
        }
    )
    with pytest.raises(TrainingError, match="fewer than data.batch_size = 4096"):
        recorded_run(spec, tmp_path)


def test_a_missing_weight_file_is_named(synth_root, tmp_path):
    spec = parse_spec(
        {
            **simclr_spec(synth_root).model_dump(mode="json"),
            "backbone": {"weights": str(tmp_path / "missing_ckpt")},
        }
    )
    with pytest.raises(Exception, match="missing_ckpt"):
        recorded_run(spec, tmp_path / "out")
