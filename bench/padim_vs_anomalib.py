"""Benchmark: this project's streaming PaDiM against anomalib's, same folder, same ResNet18 weights, one run.

Each implementation runs per category in its own subprocess (so peak memory is its own): fit on
train/good, score the test split, then both are scored by the same metric code. Prints one JSON
line per figure with the ratio anomalib / ours (time, memory) or the difference (AUROC).

    /work/bench-venv/bin/python bench/padim_vs_anomalib.py                  # synthetic MVTec layout
    /work/bench-venv/bin/python bench/padim_vs_anomalib.py --root /data/mvtec --categories bottle
    --weights imagenet | none | PATH (a state dict, e.g. a checkpoint's backbone.pt)

anomalib is optional (`pip install anomalib`, in its own venv): without it only our PaDiM runs and
the anomalib figures say why. See docs/benchmarks.md, section "PaDiM vs anomalib".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
IMPLS = ("ours", "anomalib")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="an MVTec-layout folder; default: the synthetic generator's")
    parser.add_argument("--categories", nargs="*", help="default: the first 2 found")
    parser.add_argument("--synth-size", type=int, default=256, help="synthetic images' side")
    parser.add_argument("--synth-per-category", type=int, default=120, help="synthetic train images")
    parser.add_argument("--resize", type=int, default=256)
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-features", type=int, default=100)
    parser.add_argument("--weights", default="random", help="random (seeded, saved once) | imagenet | PATH")
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("--repeats", type=int, default=3, help="runs per implementation; times: the fastest")
    parser.add_argument("--impl", choices=IMPLS, help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--category", help=argparse.SUPPRESS)
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


def run_child(args: argparse.Namespace) -> dict:
    """Fit + test one implementation on one category; the metrics come from our shared code."""
    import numpy as np
    import torch

    from ab_core.data.augment import normalize
    from ab_core.data.loader import open_dataset
    from ab_core.evaluation.scoring import ScoredSet, anomaly_metrics
    from ab_core.methods.padim import PadimModel
    from ab_core.models.backbone import ResNetBackbone
    from ab_core.specs import DataSpec

    device = torch.device(args.device)
    data = DataSpec(dataset="mvtec", root=args.root, categories=[args.category], resize=args.resize,
                    crop=args.crop, cache="memory")
    train, test = open_dataset(data, "train", args.category), open_dataset(data, "test", args.category)
    state = torch.load(args.weights, map_location="cpu", weights_only=True)
    ours = PadimModel(ResNetBackbone(), args.n_features, eps=0.01, blur_sigma=4.0, seed=0)
    ours.backbone.load_state_dict(state)

    def batches(dataset):  # (B, 3, H, W) normalised, on the device
        for start in range(0, len(dataset), args.batch_size):
            images = dataset.images[start : start + args.batch_size].to(device)
            yield normalize(images, data.mean, data.std)

    if args.impl == "ours":
        model = ours.eval().to(device)
        fit_one, finish = model.update, model.finish
        score = model
    else:
        from anomalib.models.image.padim.torch_model import PadimModel as AnomalibPadim

        model = AnomalibPadim(backbone="resnet18", layers=["layer1", "layer2", "layer3"], pre_trained=False,
                              n_features=args.n_features)
        layers = {k: v for k, v in state.items() if not k.startswith(("fc.", "layer4."))}
        model.feature_extractor.feature_extractor.load_state_dict(layers)
        model.idx.copy_(ours.channels)  # the same channel subset: the AUROCs compare the same model
        model = model.to(device)

        def fit_one(images):
            model.train()
            model(images)

        def finish():
            model.fit()
            model.eval()

        def score(images):
            out = model(images)
            return out.pred_score, out.anomaly_map

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.no_grad():  # warm-up outside the timing: kernel selection / JIT for these shapes
        ours.backbone.to(device).eval().features(next(batches(train)), ("layer1", "layer2", "layer3"))
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base_rss = _memory_mb("VmRSS")
    _reset_peak_rss()
    started = time.perf_counter()
    with torch.no_grad():
        for images in batches(train):
            fit_one(images)
        finish()
        sync()
        fitted = time.perf_counter()
        scores, maps = [], []
        for images in batches(test):
            image_scores, anomaly_maps = score(images)
            scores.append(image_scores.float().cpu().numpy().ravel())
            maps.append(anomaly_maps.float().cpu().numpy()[:, 0])
        sync()
    ended = time.perf_counter()
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else _memory_mb("VmHWM") - base_rss)

    masks = None if test.masks is None else test.masks[:, 0].numpy()
    scored = ScoredSet(test.paths, test.labels_tensor.numpy(), np.concatenate(scores), np.concatenate(maps),
                       masks, list(test.missing_masks))
    metrics = anomaly_metrics(scored)
    return {
        "impl": args.impl, "category": args.category, "device": device.type,
        "fit_s": fitted - started, "test_s": ended - fitted, "total_s": ended - started,
        "peak_mb": peak, "peak_kind": "cuda max allocated" if device.type == "cuda" else "RSS over baseline",
        "train_images": len(train), "test_images": len(test),
        **{key: metrics[key] for key in ("image_auroc", "pixel_auroc", "aupro")},
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
    """One state-dict file both implementations load (torchvision names, no fc)."""
    import torch

    from ab_core.models.backbone import ResNetBackbone, load_weights

    if args.weights not in ("random", "none", "imagenet"):
        from ab_core.checkpoints import read_backbone_state

        state = read_backbone_state(args.weights)
    else:
        torch.manual_seed(0)
        model = ResNetBackbone("resnet18")
        if args.weights == "imagenet":
            load_weights(model, "imagenet")
        state = model.state_dict()
    path = folder / "resnet18.pt"
    torch.save({k: v for k, v in state.items() if not k.startswith("fc.")}, path)
    return path


def anomalib_missing() -> str | None:
    probe = subprocess.run([sys.executable, "-c", "import anomalib.models.image.padim.torch_model"],
                           capture_output=True, text=True)
    return None if probe.returncode == 0 else (probe.stderr.strip().splitlines() or ["import failed"])[-1]


def run_parent(args: argparse.Namespace) -> None:
    from ab_core.data.mvtec import found_categories

    root = prepare_root(args)
    categories = args.categories or found_categories(root)[:2]
    missing = anomalib_missing()
    with tempfile.TemporaryDirectory() as folder:
        weights = prepare_weights(args, Path(folder))
        results: dict[str, list[dict]] = {impl: [] for impl in IMPLS}
        for category in categories:
            runs: dict[str, list[dict]] = {impl: [] for impl in IMPLS}
            for _ in range(args.repeats):  # interleaved, so a busy moment hits both
                for impl in IMPLS if missing is None else ("ours",):
                    runs[impl].append(run_subprocess(impl, category, root, weights, args))
                    print(json.dumps({"run": runs[impl][-1]}), flush=True)
            for impl, rows in runs.items():
                if rows:  # the fastest run's times, the largest peak
                    best = dict(rows[0])
                    for key in ("fit_s", "test_s", "total_s"):
                        best[key] = min(row[key] for row in rows)
                    best["peak_mb"] = max(row["peak_mb"] for row in rows)
                    results[impl].append(best)
    report(results, categories, missing, args)


def run_subprocess(impl: str, category: str, root: Path, weights: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--impl", impl, "--category", category, "--root", str(root),
               "--weights", str(weights), "--device", args.device, "--resize", str(args.resize),
               "--crop", str(args.crop), "--batch-size", str(args.batch_size),
               "--n-features", str(args.n_features)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{impl} / {category} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: dict[str, list[dict]], categories: list[str], missing: str | None,
           args: argparse.Namespace) -> None:
    """One JSON line per figure: ours, anomalib and their ratio (time, memory) or difference (AUROC)."""
    setting = {"device": args.device, "resize": args.resize, "crop": args.crop, "weights": args.weights}
    figures = [("total_s", "ratio"), ("fit_s", "ratio"), ("test_s", "ratio"), ("peak_mb", "ratio"),
               ("image_auroc", "diff"), ("pixel_auroc", "diff"), ("aupro", "diff")]
    for index, category in enumerate(categories + ["mean"]):
        for key, compare in figures:
            ours = _value(results["ours"], index, category == "mean", key)
            theirs = _value(results["anomalib"], index, category == "mean", key)
            line = {"figure": key, "category": category, "ours": ours, "anomalib": theirs, **setting}
            if ours is not None and theirs is not None:
                line[compare] = theirs / ours if compare == "ratio" else theirs - ours
            if missing is not None:
                line["anomalib_unavailable"] = missing
            print(json.dumps(line), flush=True)


def _value(rows: list[dict], index: int, mean: bool, key: str) -> float | None:
    """One category's figure, or the mean over categories."""
    values = [row[key] for row in (rows if mean else rows[index : index + 1]) if row[key] is not None]
    return sum(values) / len(values) if values else None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.impl:
        print(json.dumps(run_child(args)))
    else:
        run_parent(args)


if __name__ == "__main__":
    main()
