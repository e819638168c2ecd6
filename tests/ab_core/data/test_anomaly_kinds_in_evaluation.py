"""The new anomaly kinds run wherever mvtec does: an anomaly evaluator scores each category of them."""

from __future__ import annotations

from pathlib import Path

import torch

from ab_core.evaluation.run import evaluate
from ab_core.specs import parse_spec


def test_padim_scores_each_category_and_reports_private_test_sets_unscored(
    mvtec_ad2_root: Path, tmp_path: Path
) -> None:
    spec = parse_spec({"kind": "evaluate", "method": {"method": "padim"}, "seed": 0,
                       "data": {"dataset": "mvtec_ad2", "root": str(mvtec_ad2_root), "resize": 32, "crop": 32,
                                "batch_size": 4}})
    result = evaluate(spec, tmp_path, lambda *a, **k: None, torch.device("cpu"))
    assert list(result["categories"]) == ["can"]
    assert 0.0 <= result["categories"]["can"]["image_auroc"] <= 1.0
    assert set(result["unscored"]) == {"can/test_private", "can/test_private_mixed"}
