"""Benchmark: this project's evaluators against anomalib's: same folder, same backbone weights, interleaved.

Each method is one module under bench/vs_anomalib/ (padim, patchcore, rd4ad, ...; the driver runs
whichever exist). Each implementation runs per category in its own subprocess (so peak memory is its
own): fit on train/good, score the test split, then both are scored by the same metric code. Rounds
interleave ours and anomalib's, so a busy moment of the machine hits both. Prints one JSON line per
figure: fit / test / total time as anomalib / ours (above 1: ours faster), peak memory as ours /
anomalib (below 1: ours smaller), image / pixel AUROC and AUPRO as anomalib - ours.

    /work/bench-venv/bin/python bench/evaluators_vs_anomalib.py                       # synthetic, 128 px
    /work/bench-venv/bin/python bench/evaluators_vs_anomalib.py --methods padim patchcore --repeats 3
    /work/bench-venv/bin/python bench/evaluators_vs_anomalib.py --root /data/mvtec --categories bottle \
        --size 256 --crop 224 --weights imagenet

anomalib is optional (in its own venv, see docs/benchmarks.md, "Evaluators vs anomalib"): without it
only ours run and each figure says why anomalib's is missing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
IMPLS = ("ours", "anomalib")
TIME_FIGURES = ("fit_s", "test_s", "total_s", "fit_cpu_s", "test_cpu_s", "total_cpu_s")  # cpu: every thread
AUROC_FIGURES = ("image_auroc", "pixel_auroc", "aupro")


def method_modules() -> dict:
    """Every module of bench/vs_anomalib, by its NAME."""
    import bench.vs_anomalib as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"bench.vs_anomalib.{info.name}")
            found[module.NAME] = module
    return dict(sorted(found.items()))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", help="default: every module under bench/vs_anomalib")
    parser.add_argument("--root", help="an MVTec-layout folder; default: the synthetic generator's")
    parser.add_argument("--categories", nargs="*", help="default: the first 2 found")
    parser.add_argument("--synth-size", type=int, default=128, help="synthetic images' side")
    parser.add_argument("--synth-per-category", type=int, default=60, help="synthetic train images")
    parser.add_argument("--size", type=int, default=128, help="resize (the short side)")
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--weights", default="random", help="random (seeded, saved once), imagenet or PATH")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="*", help="several seeds, each a run of its own (the "
                        "random weights and every start drawn anew), then the AUROCs' mean over them")
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (times: fastest, peak: largest)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # child mode: a JSON of what to run
    for module in method_modules().values():
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser)
    return parser.parse_args(argv)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _memory_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := VmRSS
    except OSError:
        pass


class Batches:
    """The split's images, normalised, `batch_size` at a time, on the device; iterable again and again."""

    def __init__(self, dataset, args: argparse.Namespace, mean, std):
        self.dataset, self.args, self.mean, self.std = dataset, args, mean, std

    def __iter__(self):
        from ab_core.data.augment import normalize

        for start in range(0, len(self.dataset), self.args.batch_size):
            images = self.dataset.images[start : start + self.args.batch_size].to(self.args.device)
            yield normalize(images, self.mean, self.std)


def run_child(args: argparse.Namespace) -> dict:
    """Fit + test one implementation of one method on one category; the metrics come from our shared code."""
    import numpy as np
    import torch

    from ab_core.data.loader import open_dataset
    from ab_core.evaluation.scoring import ScoredSet, anomaly_metrics
    from ab_core.models.backbone import ResNetBackbone
    from ab_core.specs import DataSpec
    from bench.vs_anomalib import seeded

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = DataSpec(dataset="mvtec", root=args.root, categories=[args.category], resize=args.size,
                    crop=args.crop, cache="memory")
    train, test = open_dataset(data, "train", args.category), open_dataset(data, "test", args.category)
    state = torch.load(args.weights, map_location="cpu", weights_only=True)
    module = method_modules()[args.method]
    seeded(args.seed)
    impl = getattr(module, args.impl)(state, args)
    train_batches = Batches(train, args, data.mean, data.std)
    test_batches = Batches(test, args, data.mean, data.std)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.no_grad():  # warm-up outside the timing: kernel selection for these shapes
        warm = ResNetBackbone(args.arch).eval().to(device)
        warm.features(next(iter(train_batches)))
        del warm
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base_rss = _memory_mb("VmRSS")
    _reset_peak_rss()
    seeded(args.seed)
    started, started_cpu = time.perf_counter(), time.process_time()
    impl.fit(train_batches)
    sync()
    fitted, fitted_cpu = time.perf_counter(), time.process_time()
    scores, maps = [], []
    with torch.no_grad():
        for images in test_batches:
            image_scores, anomaly_maps = impl.score(images)
            scores.append(image_scores.float().cpu().numpy().ravel())
            maps.append(anomaly_maps.float().cpu().numpy()[:, 0])
    sync()
    ended, ended_cpu = time.perf_counter(), time.process_time()
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else _memory_mb("VmHWM") - base_rss)

    masks = None if test.masks is None else test.masks[:, 0].numpy()
    scored = ScoredSet(test.paths, test.labels_tensor.numpy(), np.concatenate(scores), np.concatenate(maps),
                       masks, list(test.missing_masks))
    metrics = anomaly_metrics(scored)
    return {
        "method": args.method, "impl": args.impl, "category": args.category, "device": device.type,
        "fit_s": fitted - started, "test_s": ended - fitted, "total_s": ended - started,
        "fit_cpu_s": fitted_cpu - started_cpu, "test_cpu_s": ended_cpu - fitted_cpu,
        "total_cpu_s": ended_cpu - started_cpu,
        "peak_mb": peak, "peak_kind": "cuda max allocated" if device.type == "cuda" else "RSS over baseline",
        "train_images": len(train), "test_images": len(test),
        **{key: metrics[key] for key in AUROC_FIGURES},
    }


def prepare_root(args: argparse.Namespace) -> Path:
    if args.root:
        return Path(args.root)
    from ab_core.data.synth import generate

    cache = Path(tempfile.gettempdir()) / f"ab-bench-synth-{args.synth_size}-{args.synth_per_category}"
    if not (cache / "mvtec").is_dir():
        generate(cache, seed=0, size=args.synth_size, per_category=args.synth_per_category)
    return cache / "mvtec"


def prepare_weights(args: argparse.Namespace, folder: Path) -> Path:
    """One state-dict file every implementation loads (torchvision names, no fc)."""
    import torch

    from ab_core.models.backbone import ResNetBackbone, load_weights

    if args.weights not in ("random", "none", "imagenet"):
        from ab_core.checkpoints import read_backbone_state

        state = read_backbone_state(args.weights)
    else:
        torch.manual_seed(args.seed)
        model = ResNetBackbone(args.arch)
        if args.weights == "imagenet":
            load_weights(model, "imagenet")
        state = model.state_dict()
    path = folder / f"{args.arch}.pt"
    torch.save({k: v for k, v in state.items() if not k.startswith("fc.")}, path)
    return path


def anomalib_missing() -> str | None:
    probe = subprocess.run([sys.executable, "-c", "import anomalib.models"], capture_output=True, text=True)
    return None if probe.returncode == 0 else (probe.stderr.strip().splitlines() or ["import failed"])[-1]


def run_parent(args: argparse.Namespace) -> None:
    from ab_core.data.mvtec import found_categories

    modules = method_modules()
    methods = args.methods or list(modules)
    unknown = sorted(set(methods) - set(modules))
    if unknown:
        raise SystemExit(f"no bench/vs_anomalib module for {unknown}; found: {', '.join(modules)}")
    root = prepare_root(args)
    categories = args.categories or found_categories(root)[:2]
    missing = anomalib_missing()
    impls = IMPLS if missing is None else ("ours",)
    per_seed = {}
    for seed in args.seeds or [args.seed]:
        seed_args = argparse.Namespace(**{**vars(args), "seed": seed})
        runs = run_rounds(seed_args, methods, categories, impls, root)
        for method in methods:
            report(method, {key[1:]: rows for key, rows in runs.items() if key[0] == method}, categories,
                   missing, seed_args)
        per_seed[seed] = {key: best(rows) for key, rows in runs.items()}
    if len(per_seed) > 1 and missing is None:
        for method in methods:
            report_seeds(method, per_seed, categories, args)


def run_rounds(args: argparse.Namespace, methods: list[str], categories: list[str], impls: tuple[str, ...],
               root: Path) -> dict[tuple[str, str, str], list[dict]]:
    """`args.repeats` rounds of every method, category and implementation once each, on `args.seed`'s
    weights: the rows by (method, category, impl)."""
    runs: dict[tuple[str, str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        weights = prepare_weights(args, Path(folder))
        for _ in range(args.repeats):
            for method in methods:
                for category in categories:
                    for impl in impls:
                        row = run_subprocess(args, method, impl, category, root, weights)
                        runs.setdefault((method, category, impl), []).append(row)
                        print(json.dumps({"run": {**row, "seed": args.seed}}), flush=True)
    return runs


def run_subprocess(args: argparse.Namespace, method: str, impl: str, category: str, root: Path,
                   weights: Path) -> dict:
    child = {**vars(args), "method": method, "impl": impl, "category": category, "root": str(root),
             "weights": str(weights), "child": None}
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, __file__, "--child", json.dumps(child)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{method} / {impl} / {category} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best(rows: list[dict]) -> dict:
    """The fastest run's times, the median peak (glibc's heap growth makes a single peak jump), the
    first run's AUROCs (deterministic given the seeds; `auroc_spread` says how far the others moved)."""
    out = dict(rows[0])
    for key in TIME_FIGURES:
        out[key] = min(row[key] for row in rows)
    out["peak_mb"] = sorted(row["peak_mb"] for row in rows)[len(rows) // 2]
    out["auroc_spread"] = max(abs(row[k] - rows[0][k]) for row in rows for k in AUROC_FIGURES
                              if row[k] is not None and rows[0][k] is not None)
    return out


def report(method: str, runs: dict[tuple[str, str], list[dict]], categories: list[str], missing: str | None,
           args: argparse.Namespace) -> None:
    """One JSON line per figure and category (and their mean): ours, anomalib, and how they compare."""
    setting = {"device": args.device, "size": args.size, "crop": args.crop, "arch": args.arch,
               "weights": args.weights, "repeats": args.repeats, "seed": args.seed}
    rows = {key: best(value) for key, value in runs.items()}
    for category in categories + ["mean"]:
        names = categories if category == "mean" else [category]
        for key in (*TIME_FIGURES, "peak_mb", *AUROC_FIGURES):
            ours = _mean([rows.get((name, "ours"), {}).get(key) for name in names])
            theirs = _mean([rows.get((name, "anomalib"), {}).get(key) for name in names])
            line = {"method": method, "figure": key, "category": category, "ours": ours, "anomalib": theirs,
                    **setting}
            if ours is not None and theirs is not None:
                name = _comparison(key)
                line[name] = _compare(key, ours, theirs)
                rounds = [_compare(key, o, t) for o, t in _per_round(runs, names, key)]
                if rounds:
                    line[name + "_rounds"] = [min(rounds), max(rounds)]  # the range over the rounds
            if missing is not None:
                line["anomalib_unavailable"] = missing
            print(json.dumps(line), flush=True)


def report_seeds(method: str, per_seed: dict[int, dict], categories: list[str],
                 args: argparse.Namespace) -> None:
    """One JSON line per AUROC figure and category (and their mean) over the seeds: each side's mean, the
    difference of the means, its standard error, and the per-seed differences (one training run's AUROC
    moves with its seed far more than two implementations differ)."""
    import statistics

    seeds = sorted(per_seed)
    for category in categories + ["mean"]:
        names = categories if category == "mean" else [category]
        for key in AUROC_FIGURES:
            sides = {impl: [_mean([per_seed[s][(method, name, impl)][key] for name in names]) for s in seeds]
                     for impl in IMPLS}
            if any(value is None for values in sides.values() for value in values):
                continue
            differences = [t - o for o, t in zip(sides["ours"], sides["anomalib"], strict=True)]
            print(json.dumps({
                "method": method, "figure": key, "category": category, "over_seeds": seeds,
                "ours": statistics.fmean(sides["ours"]), "anomalib": statistics.fmean(sides["anomalib"]),
                "anomalib_minus_ours": statistics.fmean(differences),
                "standard_error": statistics.stdev(differences) / len(differences) ** 0.5,
                "anomalib_minus_ours_per_seed": differences, "device": args.device, "size": args.size,
                "crop": args.crop, "arch": args.arch, "weights": args.weights,
            }), flush=True)


def _comparison(key: str) -> str:
    return ("anomalib_over_ours" if key in TIME_FIGURES else "ours_over_anomalib" if key == "peak_mb"
            else "anomalib_minus_ours")


def _compare(key: str, ours: float, theirs: float) -> float:
    return theirs / ours if key in TIME_FIGURES else ours / theirs if key == "peak_mb" else theirs - ours


def _per_round(runs: dict[tuple[str, str], list[dict]], names: list[str], key: str) -> list[tuple]:
    """(ours, anomalib) of each round, meaned over `names`, for rounds where both have the figure."""
    pairs = []
    for index in range(min(len(rows) for rows in runs.values())):
        ours = _mean([runs[(name, "ours")][index][key] for name in names if (name, "ours") in runs])
        theirs = _mean([runs[(name, "anomalib")][index][key] for name in names if (name, "anomalib") in runs])
        if ours is not None and theirs is not None:
            pairs.append((ours, theirs))
    return pairs


def _mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_child(argparse.Namespace(**json.loads(args.child)))))
    else:
        run_parent(args)


if __name__ == "__main__":
    main()
