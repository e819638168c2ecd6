"""Scoring a test set with an anomaly evaluator and turning the scores into the per-category metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ab_core.contracts import Evaluator
from ab_core.data.loader import ImageDataset, make_loader
from ab_core.evaluation.metrics import aupro, auroc, f1_max

IMAGE_METRICS = ("image_auroc", "image_f1_max")
PIXEL_METRICS = ("pixel_auroc", "aupro", "pixel_f1_max")


@dataclass
class ScoredSet:
    """Everything one category's test set produced, in dataset order."""

    paths: list[str]
    labels: np.ndarray  # (N,) 0 good / 1 defective
    scores: np.ndarray  # (N,) image scores
    maps: np.ndarray  # (N, H, W) float32 anomaly maps
    masks: np.ndarray | None  # (N, H, W) uint8 0/1, None when the dataset has no masks
    missing_masks: list[str] = field(default_factory=list)  # defect images whose mask file is absent

    def pixel_valid(self) -> np.ndarray:
        """(N,) bool: images whose pixel metrics count (those with a real mask)."""
        missing = set(self.missing_masks)
        return np.array([path not in missing for path in self.paths], dtype=bool)


def score_dataset(evaluator: Evaluator, dataset: ImageDataset, batch_size: int, seed: int) -> ScoredSet:
    """Run `evaluator.score` over the whole test set, in order, keeping maps on the CPU."""
    paths, labels, scores, maps, masks = [], [], [], [], []
    has_masks = True
    for batch in make_loader(dataset, batch_size, seed=seed, shuffle=False, drop_last=False):
        out = evaluator.score(batch)
        batch_maps = out["anomaly_map"].detach().float().cpu()  # (B, 1, H, W)
        paths += batch.paths
        labels.append(batch.labels.cpu().numpy())
        scores.append(out["image_score"].detach().float().cpu().numpy())
        maps.append(batch_maps[:, 0].numpy())
        if batch.masks is None:
            has_masks = False
        elif has_masks:
            mask = batch.masks.cpu()
            if mask.shape[-2:] != batch_maps.shape[-2:]:  # a mask of another size: nearest resize
                mask = F.interpolate(mask.float(), size=batch_maps.shape[-2:], mode="nearest").to(torch.uint8)
            masks.append((mask[:, 0] > 0).numpy().astype(np.uint8))
    return ScoredSet(
        paths=paths,
        labels=np.concatenate(labels).astype(np.int64),
        scores=np.concatenate(scores),
        maps=np.concatenate(maps),
        masks=np.concatenate(masks) if has_masks and masks else None,
        missing_masks=list(getattr(dataset, "missing_masks", [])),
    )


def pixel_absence_reason(scored: ScoredSet) -> str | None:
    """Why pixel metrics cannot be computed for this set, or None when they can."""
    if scored.masks is None:
        return "the dataset has no ground-truth masks"
    valid = scored.pixel_valid()
    if not (scored.masks[valid] > 0).any():
        return "no test image with a mask marks any defect pixel (ground_truth/<defect>/<stem>_mask.png)"
    if (scored.masks[valid] > 0).all():
        return "every masked pixel is a defect: no defect-free pixel to compare against"
    return None


def anomaly_metrics(scored: ScoredSet) -> dict[str, object]:
    """Image metrics always; pixel metrics over the images with masks, or None and the reason."""
    metrics: dict[str, object] = {
        "image_auroc": auroc(scored.labels, scored.scores),
        "image_f1_max": f1_max(scored.labels, scored.scores),
        "images": int(len(scored.labels)),
        "defective": int(scored.labels.sum()),
    }
    reason = pixel_absence_reason(scored)
    if reason is not None:
        metrics.update(dict.fromkeys(PIXEL_METRICS))
        metrics["pixel_metrics_absent"] = reason
        return metrics
    assert scored.masks is not None  # pixel_absence_reason checked it
    valid = scored.pixel_valid()
    masks, maps = scored.masks[valid], scored.maps[valid]
    metrics["pixel_auroc"] = auroc(masks, maps)
    metrics["aupro"] = aupro(masks, maps)
    metrics["pixel_f1_max"] = f1_max(masks, maps)
    skipped = [path for path, ok in zip(scored.paths, valid, strict=True) if not ok]
    if skipped:
        metrics["pixel_metrics_skipped"] = skipped
    return metrics
