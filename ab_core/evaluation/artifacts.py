"""Files an evaluation leaves for people: results.json, per-image scores CSV, ROC curve and map overlays.

Pictures use matplotlib's object API on an Agg canvas (`ab_core.plots.figure`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from ab_core.checkpoints import read_meta
from ab_core.errors import CheckpointError
from ab_core.evaluation.scoring import ScoredSet
from ab_core.plots.figure import new_figure
from ab_core.spec_sections import BackboneSpec

OVERLAYS_PER_KIND = 2


def write_json(path: Path, results: dict[str, Any]) -> Path:
    path.write_text(json.dumps(results, indent=2, sort_keys=True, default=float))
    return path


def write_scores_csv(path: Path, scored: ScoredSet) -> Path:
    """One row per test image: path, label, image score, whether its pixel metrics count."""
    valid = scored.pixel_valid() if scored.masks is not None else np.zeros(len(scored.paths), bool)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "image_score", "pixel_metrics"])
        for name, label, score, ok in zip(scored.paths, scored.labels, scored.scores, valid, strict=True):
            writer.writerow([name, int(label), f"{float(score):.6g}", "yes" if ok else "no"])
    return path


def write_roc_png(path: Path, scored: ScoredSet, title: str, metrics: dict[str, Any]) -> Path | None:
    """The image-level ROC curve (and the pixel-level one when masks exist); None with one class only."""
    from sklearn.metrics import roc_curve

    if len(np.unique(scored.labels)) < 2:
        return None
    figure = new_figure(4.5, 4.5)
    axes = figure.add_subplot()
    fpr, tpr, _ = roc_curve(scored.labels, scored.scores)
    axes.plot(fpr, tpr, label=f"image (AUROC {metrics['image_auroc']:.3f})")
    if isinstance(metrics.get("pixel_auroc"), float) and scored.masks is not None:
        valid = scored.pixel_valid()
        fpr, tpr, _ = roc_curve(scored.masks[valid].ravel(), scored.maps[valid].ravel())
        axes.plot(fpr, tpr, label=f"pixel (AUROC {metrics['pixel_auroc']:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="lower right")
    figure.savefig(path)
    return path


def overlay_picks(scored: ScoredSet, per_kind: int = OVERLAYS_PER_KIND) -> list[tuple[str, int]]:
    """(kind, index) of the images worth a look: the highest-scored normal images (false alarms), the
    highest-scored defective ones (clearest detections) and the lowest-scored defective ones (misses)."""
    by_score = np.argsort(-scored.scores, kind="stable")
    normal_high = [i for i in by_score if scored.labels[i] == 0][:per_kind]
    defective_high = [i for i in by_score if scored.labels[i] == 1][:per_kind]
    defective_low = [i for i in by_score[::-1] if scored.labels[i] == 1 and i not in defective_high]
    defective_low = defective_low[:per_kind]
    return (
        [("normal_highest", int(i)) for i in normal_high]
        + [("defective_highest", int(i)) for i in defective_high]
        + [("defective_lowest", int(i)) for i in defective_low]
    )


def backbone_label(backbone: BackboneSpec) -> str:
    """The backbone in a few words: its arch and where its weights came from."""
    if backbone.weights == "none":
        return f"{backbone.arch}, random init"
    if backbone.weights == "imagenet":
        return f"{backbone.arch}, ImageNet weights"
    job = f", job {backbone.from_job}" if backbone.from_job else ""
    try:
        meta = read_meta(Path(backbone.weights))
    except (CheckpointError, ValueError):  # a bare state-dict file, or a meta.json that is not JSON
        return f"{backbone.arch}, weights {Path(backbone.weights).name}{job}"
    method = (meta.get("spec") or {}).get("method", {}).get("method", "checkpoint")
    return f"{backbone.arch}, {method} step {meta.get('step', '?')}{job}"


def overlay_title(category: str, method: str, backbone: BackboneSpec) -> str:
    return f"{category}: {method} on {backbone_label(backbone)}"


def write_overlays_png(path: Path, picks: list[tuple[str, int]], images: list[Tensor], scored: ScoredSet,
                       value_range: tuple[float, float], title: str = "") -> Path | None:
    """One row per picked image: the image, its anomaly map over it (one colour scale for the whole
    category), and the ground-truth mask outline; `title` above (see `overlay_title`). None when nothing
    was picked."""
    if not picks:
        return None
    heading = 0.5 if title else 0.0
    figure = new_figure(7.5, 2.4 * len(picks) + 0.4 + heading, layout=None)
    if title:
        figure.suptitle(title, fontsize=10, y=1 - 0.15 / figure.get_figheight())
    rows = figure.subplots(len(picks), 3, squeeze=False)
    shown = None
    missing = set(scored.missing_masks)
    for (kind, index), image, (left, middle, right) in zip(picks, images, rows, strict=True):
        picture = image.permute(1, 2, 0).cpu().numpy()  # (H, W, 3) uint8
        source = Path(scored.paths[index])
        left.imshow(picture)
        left.set_title(f"{kind.replace('_', ' ')}\n{source.parent.name}/{source.name}", fontsize=8)
        middle.imshow(picture)
        low, high = value_range
        shown = middle.imshow(scored.maps[index], cmap="jet", alpha=0.5, vmin=low, vmax=high)
        middle.set_title(f"score {scored.scores[index]:.4g}", fontsize=8)
        right.imshow(picture)
        if scored.masks is not None and scored.masks[index].any():
            right.contour(scored.masks[index], levels=[0.5], colors="lime", linewidths=1)
            right.set_title("ground truth", fontsize=8)
        else:
            right.set_title("mask missing" if str(source) in missing else "no defect pixels", fontsize=8)
        for panel in (left, middle, right):
            panel.set_axis_off()
    top = 1 - (0.5 + heading) / figure.get_figheight()  # room for the title and the first row's titles
    figure.subplots_adjust(left=0.02, right=0.86, top=top, bottom=0.02, hspace=0.35)
    figure.colorbar(shown, cax=figure.add_axes((0.89, 0.1, 0.025, 0.8)), label="anomaly score")
    figure.savefig(path)
    return path
