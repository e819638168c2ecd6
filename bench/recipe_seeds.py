"""Does a pretraining recipe beat random init by more than the seed does? PaDiM on both, seed by seed.

One seed draws random init's weights, PaDiM's feature channels and (for the recipe) its training; at
seed s the recipe starts from random init's seed-s weights and PaDiM draws the same channels, so each
seed is a pair. In-process through `ab_core` (`abs run`'s path), on the photo-texture set (`abs data
photos`, --contrast) or any MVTec root (--root). One JSON line per seed and backbone, then one per
figure: both means over the seeds, the recipe's mean lead (the mean paired difference), its standard
error, the seeds it wins and the per-seed leads; the figures are each photo's image AUROC, the means
(tuned, held out, all) and, per photo and defect type, its test/<defect>/ crops against the good ones
("brick/patch": where a lead comes from).

    .venv/bin/python bench/recipe_seeds.py --contrast 0.5 --seeds 0-19          # the recipe, 20 seeds
    .venv/bin/python bench/recipe_seeds.py --steps 50 --seeds 0-9 --threads 1   # at another budget
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ab_core.data import photo_textures  # noqa: E402
from ab_core.evaluation.metrics import auroc  # noqa: E402
from ab_core.runner import run  # noqa: E402
from ab_core.specs import parse_spec, read_spec_file  # noqa: E402

RECIPE = ROOT / "examples" / "recipes" / "padim_backbone.yaml"
BACKBONES = ("random_init", "recipe")


def seeds_arg(text: str) -> list[int]:
    """'0-4' or '0,3,7' (or both: '0-2,9')."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


def padim_spec(root: Path, categories: list[str], weights: str, seed: int, size: int,
               n_features: int) -> dict[str, Any]:
    return {"kind": "evaluate", "method": {"method": "padim", "n_features": n_features},
            "data": {"dataset": "mvtec", "root": str(root), "resize": size, "crop": size, "batch_size": 16,
                     "categories": categories},
            "backbone": {"arch": "resnet18", "weights": weights}, "seed": seed}


def image_aurocs(result: dict[str, Any]) -> dict[str, float]:
    return {name: figures["image_auroc"] for name, figures in result["categories"].items()}


def defect_aurocs(scores_csv: Path, category: str) -> dict[str, float]:
    """'<category>/<defect>': image AUROC of that defect's test crops against the good ones, read from an
    evaluation's scores.csv (MVTec layout: the defect is the image's folder)."""
    rows = list(csv.DictReader(scores_csv.open()))
    good = [float(row["image_score"]) for row in rows if row["label"] == "0"]
    by_defect: dict[str, list[float]] = {}
    for row in rows:
        if row["label"] == "1":
            by_defect.setdefault(Path(row["path"]).parent.name, []).append(float(row["image_score"]))
    return {f"{category}/{defect}": auroc(np.r_[np.zeros(len(good)), np.ones(len(bad))], np.r_[good, bad])
            for defect, bad in sorted(by_defect.items())}


def figures(aurocs: dict[str, float], tuned: list[str], held_out: list[str]) -> dict[str, float]:
    """Per photo (and photo/defect), then the photos' means: tuned, held out (when any), all."""
    groups = {"tuned": tuned, "held_out": held_out, "all": tuned + held_out}
    return aurocs | {group: statistics.fmean(aurocs[name] for name in names)
                     for group, names in groups.items() if names}


def paired(random_init: list[float], recipe: list[float]) -> dict[str, Any]:
    """The recipe's lead over random init, seed by seed, and its mean with the standard error."""
    leads = [theirs - ours for ours, theirs in zip(random_init, recipe, strict=True)]
    error = statistics.stdev(leads) / len(leads) ** 0.5 if len(leads) > 1 else None
    return {"random_init": statistics.fmean(random_init), "recipe": statistics.fmean(recipe),
            "recipe_minus_random_init": statistics.fmean(leads), "standard_error": error,
            "seeds_won": sum(lead > 0 for lead in leads), "per_seed": leads}


def one_seed(recipe: dict[str, Any], root: Path, categories: list[str], seed: int, work: Path,
             n_features: int) -> dict[str, dict[str, float]]:
    size = recipe["data"]["crop"]
    pretrain = parse_spec(recipe | {"data": recipe["data"] | {"root": str(root)}, "seed": seed})
    checkpoint = run(pretrain, work / f"s{seed}" / "pretrain", device="cpu")["checkpoint"]
    weights = {"random_init": "none", "recipe": str(Path(checkpoint) / "backbone.pt")}
    pair = {}
    for backbone in BACKBONES:
        out = work / f"s{seed}" / backbone
        spec = parse_spec(padim_spec(root, categories, weights[backbone], seed, size, n_features))
        pair[backbone] = image_aurocs(run(spec, out, device="cpu"))
        for category in categories:
            pair[backbone] |= defect_aurocs(out / category / "scores.csv", category)
    return pair


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=RECIPE, help="a pretraining spec (the PaDiM recipe)")
    parser.add_argument("--root", type=Path, help="an MVTec root (default: the photo set, built in --work)")
    parser.add_argument("--contrast", type=float, default=1.0, help="the photo set's defect strength, (0, 1]")
    parser.add_argument("--tuned", default="brick,grass", help="categories the recipe was chosen on")
    parser.add_argument("--held-out", default="gravel", help="kept out of the tuning ('': none)")
    parser.add_argument("--seeds", type=seeds_arg, default=seeds_arg("0-4"), help="e.g. 0-19 or 0,3,7")
    parser.add_argument("--steps", type=int, help="override the recipe's schedule.steps")
    parser.add_argument("--n-features", type=int, default=100, help="PaDiM's random feature channels")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--work", type=Path, help="where runs go (default: a temporary folder)")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = read_spec_file(args.recipe)
    if args.steps:
        recipe["schedule"] = recipe.get("schedule", {}) | {"steps": args.steps}
    tuned, held_out = args.tuned.split(","), [name for name in args.held_out.split(",") if name]
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        root = args.root
        if root is None:
            root = work / "photos"
            photo_textures.build(root, size=recipe["data"]["crop"], photos=tuned + held_out,
                                 contrast=args.contrast)
        per_seed: dict[str, list[dict[str, float]]] = {backbone: [] for backbone in BACKBONES}
        for seed in args.seeds:
            pair = one_seed(recipe, root, tuned + held_out, seed, work, args.n_features)
            for backbone, aurocs in pair.items():
                row = figures(aurocs, tuned, held_out)
                per_seed[backbone].append(row)
                print(json.dumps({"seed": seed, "backbone": backbone, "image_auroc": row}), flush=True)
    for figure in per_seed["recipe"][0]:  # the means last
        print(json.dumps({"figure": f"{figure}_image_auroc", "over_seeds": args.seeds,
                          "recipe": str(args.recipe), "steps": recipe["schedule"].get("steps"),
                          "contrast": args.contrast if args.root is None else None}
                         | paired(*[[row[figure] for row in per_seed[b]] for b in BACKBONES])), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
