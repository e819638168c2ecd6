"""An evaluation's result names the data it ran on: `dataset_fingerprint` over every evaluated split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from ab_core.data.loader import open_dataset
from ab_core.evaluation.run import data_fingerprint, evaluate
from ab_core.specs import JobSpec, parse_spec


def spec_for(method: str, dataset: str, root: Path, **data: object) -> JobSpec:
    return parse_spec({"kind": "evaluate", "method": {"method": method}, "seed": 0,
                       "data": {"dataset": dataset, "root": str(root), "resize": 32, "crop": 32,
                                "batch_size": 8, **data}})  # fmt: skip


def split_prints(spec: JobSpec, categories: list[str | None]) -> dict[str, str]:
    """What the evaluation should have fingerprinted, from file listings alone (nothing decoded)."""
    listing = spec.data.model_copy(update={"cache": "none"})
    return {
        f"{category}/{split}" if category else split: open_dataset(listing, split, category, 0).fingerprint()
        for category in categories
        for split in ("train", "test")
    }  # fmt: skip


def test_an_anomaly_evaluation_fingerprints_each_categorys_splits(synth_root: Path, tmp_path: Path):
    spec = spec_for("padim", "mvtec", synth_root / "mvtec", categories=["carpet"])
    result = evaluate(spec, tmp_path, lambda *a, **k: None, torch.device("cpu"))
    assert result["dataset_fingerprint"] == data_fingerprint(split_prints(spec, ["carpet"]))
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["dataset_fingerprint"] == result["dataset_fingerprint"]


def test_a_linear_probe_fingerprints_its_train_and_test_split(synth_root: Path, tmp_path: Path):
    spec = spec_for("linear_probe", "image_folder", synth_root / "classes")
    result = evaluate(spec, tmp_path, lambda *a, **k: None, torch.device("cpu"))
    assert result["dataset_fingerprint"] == data_fingerprint(split_prints(spec, [None]))


def test_the_fingerprint_changes_with_a_file_the_crop_or_the_categories(synth_root: Path, tmp_path: Path):
    root = tmp_path / "mvtec"
    shutil.copytree(synth_root / "mvtec", root)
    spec = spec_for("padim", "mvtec", root, categories=["carpet", "screw"])
    before = data_fingerprint(split_prints(spec, ["carpet", "screw"]))
    assert before == data_fingerprint(dict(reversed(split_prints(spec, ["carpet", "screw"]).items())))
    assert before != data_fingerprint(split_prints(spec, ["carpet"]))
    smaller = spec_for("padim", "mvtec", root, resize=32, crop=24, categories=["carpet", "screw"])
    assert before != data_fingerprint(split_prints(smaller, ["carpet", "screw"]))
    image = sorted((root / "screw" / "train" / "good").iterdir())[0]
    image.write_bytes(image.read_bytes() + b"\0")  # one more byte in one training image
    assert before != data_fingerprint(split_prints(spec, ["carpet", "screw"]))
