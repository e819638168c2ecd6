"""Anomaly-detection metrics: image / pixel AUROC, F1-max and AUPRO (per-region overlap up to FPR 0.3).

Inputs are numpy arrays on the CPU: scores as floats, labels / masks as 0/1. AUROC and the
precision-recall curve come from scikit-learn; AUPRO is computed here, exactly, by one sort.
scikit-learn and scipy are imported inside the functions: they are slow to import.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

AUPRO_FPR_LIMIT = 0.3


def auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve; None when only one class is present (the curve is undefined)."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).ravel().astype(bool)
    if labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, np.asarray(scores).ravel()))


def f1_max(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """The best F1 over every threshold of the precision-recall curve; None without any positive."""
    from sklearn.metrics import precision_recall_curve

    labels = np.asarray(labels).ravel().astype(bool)
    if not labels.any():
        return None
    precision, recall, _ = precision_recall_curve(labels, np.asarray(scores).ravel())
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(f1.max())


def pro_curve(masks: np.ndarray, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, PRO) at every distinct threshold, from the highest down, starting at (0, 0).

    masks: (N, H, W) 0/1; maps: (N, H, W) scores. A region is an 8-connected component of one
    image's mask; PRO(t) is the mean over regions of the fraction of the region scoring >= t,
    and FPR(t) is the fraction of all defect-free pixels scoring >= t (Bergmann et al. 2021).
    """
    from scipy import ndimage

    masks = np.asarray(masks).astype(bool)
    maps = np.asarray(maps, dtype=np.float64)
    weights = np.zeros(masks.shape, dtype=np.float64)  # each region's pixels share 1 / regions
    structure = np.ones((3, 3), dtype=bool)
    regions = 0
    for index, mask in enumerate(masks):
        labelled, count = ndimage.label(mask, structure=structure)
        if count == 0:
            continue
        sizes = np.bincount(labelled.ravel())  # sizes[0] is the background
        per_pixel = np.zeros_like(sizes, dtype=np.float64)
        per_pixel[1:] = 1.0 / sizes[1:]
        weights[index] = per_pixel[labelled]
        regions += count
    if regions == 0:
        raise ValueError("AUPRO needs at least one defect region in the masks")
    normal = ~masks
    normal_count = normal.sum()
    if normal_count == 0:
        raise ValueError("AUPRO needs at least one defect-free pixel in the masks")

    order = np.argsort(-maps.ravel(), kind="stable")
    sorted_scores = maps.ravel()[order]
    pro = np.cumsum(weights.ravel()[order]) / regions
    fpr = np.cumsum(normal.ravel()[order]) / normal_count
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]  # thresholds between groups
    return np.r_[0.0, fpr[last_of_tie]], np.r_[0.0, pro[last_of_tie]]


def aupro(masks: np.ndarray, maps: np.ndarray, fpr_limit: float = AUPRO_FPR_LIMIT) -> float:
    """Area under the PRO curve for FPR in [0, fpr_limit], divided by fpr_limit: a value in [0, 1]."""
    fpr, pro = pro_curve(masks, maps)
    end = np.searchsorted(fpr, fpr_limit, side="right")  # fpr[:end] <= limit
    xs, ys = fpr[:end], pro[:end]
    if end < len(fpr) and xs[-1] < fpr_limit:  # close the area with the value interpolated at the limit
        x0, x1, y0, y1 = fpr[end - 1], fpr[end], pro[end - 1], pro[end]
        ys = np.r_[ys, y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)]
        xs = np.r_[xs, fpr_limit]
    area = float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2))  # trapezoid rule
    return min(max(area / fpr_limit, 0.0), 1.0)


def top_k_accuracy(logits: Tensor, labels: Tensor, k: int) -> float:
    """Fraction of rows whose label is among the k highest logits (k capped at the class count)."""
    k = min(k, logits.shape[1])
    hits = (logits.topk(k, dim=1).indices == labels.unsqueeze(1)).any(dim=1)
    return float(hits.float().mean())
