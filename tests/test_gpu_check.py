"""bench/gpu_examples.py (the GPU check's first part): every example shrinks to a valid two-step spec on
generated data, and a shrunk example runs and prints its JSON line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ab_core.specs import parse_spec
from bench.gpu_examples import EXAMPLES, main, shrink


def test_every_example_shrinks_to_a_valid_spec_on_the_generated_data(tmp_path):
    paths = sorted(EXAMPLES.glob("*.yaml"))
    assert paths
    for path in paths:
        spec = parse_spec(shrink(yaml.safe_load(path.read_text()), tmp_path, steps=2, quick=True))
        assert Path(spec.data.root).is_relative_to(tmp_path), path.name
        assert spec.data.batch_size <= 8, path.name
        if spec.kind == "pretrain":
            assert (spec.schedule.steps, spec.schedule.epochs) == (2, None), path.name
        else:
            assert getattr(spec.method, "epochs", 1) == 1, path.name
        if spec.data.dataset == "mvtec":
            assert len(spec.data.categories or []) == 1, path.name


def test_a_shrunk_example_runs_and_prints_one_json_line(capsys):
    assert main(["--device", "cpu", "--quick", "--examples", "supervised"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert (row["example"], row["ok"], row["device"]) == ("supervised", True, "cpu")
    assert row["value"] > 0 and row["loss"] > 0
