"""bench/recipe_seeds.py: the recipe against random init seed by seed, paired."""

from __future__ import annotations

import json

import pytest
import yaml

from ab_core.data.photo_textures import build
from bench.recipe_seeds import main, paired, seeds_arg


def test_seeds_read_as_ranges_and_lists() -> None:
    assert seeds_arg("0-3") == [0, 1, 2, 3]
    assert seeds_arg("0-2,9") == [0, 1, 2, 9]


def test_the_lead_is_the_mean_paired_difference_with_its_standard_error() -> None:
    summary = paired([0.70, 0.60, 0.80], [0.75, 0.70, 0.75])
    assert summary["per_seed"] == pytest.approx([0.05, 0.10, -0.05])
    assert summary["recipe_minus_random_init"] == pytest.approx(0.1 / 3)
    assert summary["standard_error"] == pytest.approx((0.0058333 ** 0.5) / 3 ** 0.5, rel=1e-3)
    assert summary["seeds_won"] == 2
    assert summary["random_init"] == pytest.approx(0.70)


def test_two_seeds_of_a_two_step_recipe_print_pairs_and_the_lead(tmp_path, capsys) -> None:
    root = tmp_path / "photos"
    build(root, photos=("brick", "grass"), train=8, test_good=2, test_per_defect=1)
    recipe = tmp_path / "recipe.yaml"  # relative position: the cheapest pretext at 128 px
    recipe.write_text(yaml.safe_dump({
        "kind": "pretrain",
        "method": {"method": "relative_position", "patch_size": 30, "gap": 15, "jitter": 3},
        "data": {"dataset": "mvtec", "root": "unused", "resize": 128, "crop": 128, "batch_size": 16}}))
    assert main(["--recipe", str(recipe), "--root", str(root), "--tuned", "brick", "--held-out", "grass",
                 "--seeds", "0-1",
                 "--steps", "2", "--n-features", "20", "--work", str(tmp_path / "work")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    per_seed = [row for row in rows if "seed" in row]
    assert [(row["seed"], row["backbone"]) for row in per_seed] == [
        (0, "random_init"), (0, "recipe"), (1, "random_init"), (1, "recipe")]
    assert per_seed[0]["image_auroc"] != per_seed[2]["image_auroc"]  # another seed, another backbone
    defects = {name for name in per_seed[0]["image_auroc"] if "/" in name}
    assert defects == {f"{photo}/{defect}" for photo in ("brick", "grass")
                       for defect in ("crack", "patch", "scratch", "spot")}
    summary = {row["figure"]: row for row in rows if "figure" in row}
    assert "brick/patch_image_auroc" in summary and "held_out_image_auroc" in summary
    lead = summary["tuned_image_auroc"]
    recipe_tuned = [row["image_auroc"]["tuned"] for row in per_seed if row["backbone"] == "recipe"]
    assert lead["recipe"] == pytest.approx(sum(recipe_tuned) / 2)
    assert lead["per_seed"] == pytest.approx(
        [per_seed[i + 1]["image_auroc"]["tuned"] - per_seed[i]["image_auroc"]["tuned"] for i in (0, 2)])
