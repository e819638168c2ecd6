"""The evaluation loop: fit an evaluator per category, score the test split, write metrics and pictures."""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from ab_core import registry
from ab_core.contracts import Batch, BuildContext, RepeatedEvaluator
from ab_core.data.anomaly_sets import ANOMALY_KINDS, is_anomaly_kind, unscored_splits
from ab_core.data.loader import ImageDataset, categories, make_loader, open_dataset
from ab_core.errors import SpecError
from ab_core.evaluation import artifacts
from ab_core.evaluation.draws import score_draws
from ab_core.evaluation.scoring import anomaly_metrics, score_dataset
from ab_core.evaluation.table import markdown_table, mean_row
from ab_core.provenance import code_version
from ab_core.specs import JobSpec


class EpochBatches:
    """A re-iterable training loader: each pass is the next epoch, in a new order fixed by (seed, epoch)."""

    def __init__(self, dataset: ImageDataset, batch_size: int, seed: int, num_workers: int = 0):
        self.dataset, self.seed, self.num_workers = dataset, seed, num_workers
        self.batch_size = min(batch_size, len(dataset))
        self.epoch = 0

    def __iter__(self) -> Iterator[Batch]:
        loader = make_loader(self.dataset, self.batch_size, seed=self.seed, epoch=self.epoch,
                             shuffle=True, drop_last=False, num_workers=self.num_workers)
        self.epoch += 1
        return iter(loader)


def evaluate(spec: JobSpec, out_dir: Path, report: Callable[..., None], device: torch.device) -> dict:
    """Run `spec.method` on `spec.data` with `spec.backbone`; write artifacts and results.json in out_dir.

    Anomaly evaluators run once per category and call report({"category": ..., metrics...}) for each;
    classifiers (the linear probe) report top-1 / top-5 once.
    """
    entry = registry.get(spec.method.method)
    if entry.role != "evaluate":
        raise SpecError([f"method: {entry.name!r} is a {entry.role} method, not an evaluator"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = {
        "method": entry.name,
        "params": spec.method.model_dump(mode="json"),
        "backbone": spec.backbone.model_dump(mode="json"),
        "data": spec.data.model_dump(mode="json"),
        "seed": spec.seed,
        "code_version": code_version(),
    }
    prints: dict[str, str] = {}  # "<category>/<split>" -> that dataset's fingerprint (not the dataset: freed)
    if entry.task == "classification":
        body = _classify(spec, entry, out_dir, report, device, prints)
    else:
        body = _detect_anomalies(spec, entry, out_dir, report, device, prints)
    header["dataset_fingerprint"] = data_fingerprint(prints)
    results = header | body
    artifacts.write_json(out_dir / "results.json", results)
    return results


def data_fingerprint(prints: dict[str, str]) -> str:
    """sha256 over each evaluated split's `ImageDataset.fingerprint()` (file listing, sizes, resize / crop),
    keyed by "<category>/<split>": the same data evaluated the same way fingerprints the same."""
    digest = hashlib.sha256()
    for key in sorted(prints):
        digest.update(f"{key}\t{prints[key]}\n".encode())
    return digest.hexdigest()


def _context(spec: JobSpec, device: torch.device, num_classes: int, category: str | None = None,
             folder: Path | None = None) -> BuildContext:
    return BuildContext(spec.backbone, spec.data, num_classes, torch.device(device), spec.seed,
                        category=category, out_dir=folder)


def _detect_anomalies(spec: JobSpec, entry: registry.MethodEntry, out_dir: Path,
                      report: Callable[..., None], device: torch.device,
                      prints: dict[str, str]) -> dict[str, Any]:
    if not is_anomaly_kind(spec.data.dataset):
        raise SpecError([f"data.dataset: {entry.name} evaluates anomaly data (normal train images, labelled "
                         f"test images per category); got {spec.data.dataset!r}, accepted: "
                         f"{', '.join(ANOMALY_KINDS)}"])
    names = categories(spec.data)  # DataError naming the root when it holds none
    per_category: dict[str, dict[str, Any]] = {}
    for category in names:
        per_category[category] = _one_category(spec, entry, category, out_dir / category, report, device,
                                                prints)
    mean = mean_row(per_category)
    table = markdown_table(per_category, mean)
    (out_dir / "table.md").write_text(table)
    unscored = unscored_splits(spec.data, spec.seed)  # e.g. MVTec AD 2's private test sets, with the reason
    body: dict[str, Any] = {"categories": per_category, "mean": mean, "table": table}
    return body | {"unscored": unscored} if unscored else body


def _one_category(spec: JobSpec, entry: registry.MethodEntry, category: str, folder: Path,
                  report: Callable[..., None], device: torch.device,
                  prints: dict[str, str]) -> dict[str, Any]:
    torch.manual_seed(spec.seed)  # the same initial weights for every category
    train = open_dataset(spec.data, "train", category, spec.seed)
    test = open_dataset(spec.data, "test", category, spec.seed)
    prints[f"{category}/train"], prints[f"{category}/test"] = train.fingerprint(), test.fingerprint()
    evaluator = entry.build(spec.method, _context(spec, device, 2, category, folder))
    if hasattr(evaluator, "on_epoch"):
        evaluator.on_epoch = lambda epoch, loss: report({"category": category, "epoch": epoch, "loss": loss})

    started = time.perf_counter()
    evaluator.fit(EpochBatches(train, spec.data.batch_size, spec.seed, spec.data.num_workers))
    fitted = time.perf_counter()
    if isinstance(evaluator, RepeatedEvaluator):  # e.g. RegAD: mean and std over seeded support draws
        scored, metrics = score_draws(evaluator, test, spec.data.batch_size, spec.seed)
    else:
        scored = score_dataset(evaluator, test, spec.data.batch_size, spec.seed)
        metrics = anomaly_metrics(scored)
    metrics |= {"fit_seconds": fitted - started, "test_seconds": time.perf_counter() - fitted,
                "train_images": len(train)}
    del evaluator
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()

    folder.mkdir(parents=True, exist_ok=True)
    artifacts.write_scores_csv(folder / "scores.csv", scored)
    artifacts.write_roc_png(folder / "roc.png", scored, f"{entry.name} / {category}", metrics)
    picks = artifacts.overlay_picks(scored)
    value_range = (float(scored.maps.min()), float(scored.maps.max()))
    artifacts.write_overlays_png(folder / "overlays.png", picks, [test[i].image for _, i in picks], scored,
                                 value_range, artifacts.overlay_title(category, entry.name, spec.backbone))
    report({"category": category} | {k: v for k, v in metrics.items() if not isinstance(v, list)})
    return metrics


def _classify(spec: JobSpec, entry: registry.MethodEntry, out_dir: Path,
              report: Callable[..., None], device: torch.device,
              prints: dict[str, str]) -> dict[str, Any]:
    from ab_core.evaluation.metrics import top_k_accuracy

    train = open_dataset(spec.data, "train", None, spec.seed)
    test = open_dataset(spec.data, "test", None, spec.seed)
    prints["train"], prints["test"] = train.fingerprint(), test.fingerprint()
    torch.manual_seed(spec.seed)
    probe = entry.build(spec.method, _context(spec, device, num_classes=len(train.classes)))
    started = time.perf_counter()
    batch_size = min(spec.data.batch_size, len(train))
    probe.fit(make_loader(train, batch_size, seed=spec.seed, shuffle=False, drop_last=False,
                          num_workers=spec.data.num_workers))
    fitted = time.perf_counter()
    logits, labels, paths = [], [], []
    for batch in make_loader(test, min(spec.data.batch_size, len(test)), seed=spec.seed, shuffle=False,
                             drop_last=False, num_workers=spec.data.num_workers):
        logits.append(probe.score(batch)["logits"].float().cpu())
        labels.append(batch.labels.cpu())
        paths += batch.paths
    all_logits, all_labels = torch.cat(logits), torch.cat(labels)  # (N, C), (N,)
    metrics = {
        "top1": top_k_accuracy(all_logits, all_labels, 1),
        "top5": top_k_accuracy(all_logits, all_labels, 5),  # top-k with k = min(5, classes)
        "classes": len(train.classes),
        "train_images": len(train),
        "test_images": len(test),
        "fit_seconds": fitted - started,
        "test_seconds": time.perf_counter() - fitted,
    }
    _write_predictions(out_dir / "predictions.csv", paths, all_labels, all_logits, train.classes)
    report(dict(metrics))
    return metrics


def _write_predictions(path: Path, paths: list[str], labels: torch.Tensor, logits: torch.Tensor,
                       classes: list[str]) -> None:
    predicted = logits.argmax(dim=1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "predicted", "correct"])
        for name, label, guess in zip(paths, labels.tolist(), predicted.tolist(), strict=True):
            writer.writerow([name, classes[label], classes[guess], int(label == guess)])
