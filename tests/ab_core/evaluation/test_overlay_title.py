"""An overlay picture's title names the category, the evaluator and the backbone (arch, weights' origin)."""

from __future__ import annotations

import json

from ab_core.evaluation.artifacts import overlay_title
from ab_core.spec_sections import BackboneSpec


def test_the_title_names_category_method_arch_and_where_the_weights_came_from(tmp_path):
    checkpoint = tmp_path / "step_00000004"
    checkpoint.mkdir()
    (checkpoint / "meta.json").write_text(json.dumps({"spec": {"method": {"method": "simclr"}}, "step": 4}))
    titles = {
        weights: overlay_title("carpet", "padim", BackboneSpec(weights=weights, from_job=job))
        for weights, job in (("none", None), ("imagenet", None), (str(checkpoint), "job-1"),
                             (str(tmp_path / "plain.pt"), None))
    }  # fmt: skip
    assert titles["none"] == "carpet: padim on resnet18, random init"
    assert titles["imagenet"] == "carpet: padim on resnet18, ImageNet weights"
    assert titles[str(checkpoint)] == "carpet: padim on resnet18, simclr step 4, job job-1"
    assert titles[str(tmp_path / "plain.pt")] == "carpet: padim on resnet18, weights plain.pt"
