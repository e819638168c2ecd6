"""examples/recipes/: each recipe validates and runs two steps in-process on the photo-texture set."""

from __future__ import annotations

from pathlib import Path

import pytest

from ab_core.data.photo_textures import build
from ab_core.runner import run
from ab_core.specs import parse_spec, read_spec_file

RECIPES = sorted((Path(__file__).resolve().parents[1] / "examples" / "recipes").glob("*.yaml"))


def test_the_padim_backbone_recipe_is_there() -> None:
    assert "padim_backbone.yaml" in [path.name for path in RECIPES]


@pytest.mark.parametrize("path", RECIPES, ids=[path.stem for path in RECIPES])
def test_recipe_validates_and_runs_two_steps_on_the_photo_set(path: Path, tmp_path: Path) -> None:
    raw = read_spec_file(path)
    parse_spec(raw)  # as written
    root = tmp_path / "photos"  # at the recipe's own size: its params may be fitted to it
    build(root, size=raw["data"]["crop"], photos=("brick", "grass"), train=4, test_good=1, test_per_defect=1)
    raw["data"] |= {"root": str(root), "batch_size": 4}
    raw["schedule"] |= {"steps": 2}
    reports: list[dict] = []
    result = run(parse_spec(raw), tmp_path / "run", report=lambda m, checkpoint_dir=None: reports.append(m),
                 device="cpu")  # fmt: skip
    assert [m["step"] for m in reports if "loss" in m][-1] == 2
    assert Path(result["checkpoint"]).is_dir()
