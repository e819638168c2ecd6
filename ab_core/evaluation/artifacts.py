"""Files an evaluation leaves for people: results.json, per-image scores CSV, ROC curve and map overlays.

Pictures use matplotlib's object API on an Agg canvas (imported lazily, no pyplot, no global backend).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from ab_core.evaluation.scoring import ScoredSet

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


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def write_roc_png(path: Path, scored: ScoredSet, title: str, metrics: dict[str, Any]) -> Path | None:
    """The image-level ROC curve (and the pixel-level one when masks exist); None with one class only."""
    from sklearn.metrics import roc_curve

    if len(np.unique(scored.labels)) < 2:
        return None
    figure = _figure(4.5, 4.5)
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


def write_overlay_png(path: Path, image: Tensor, scored: ScoredSet, index: int, vmin: float, vmax: float
                      ) -> Path:
    """Three panels: the image, the anomaly map over it, and the ground-truth mask outline."""
    picture = image.permute(1, 2, 0).cpu().numpy()  # (H, W, 3) uint8
    anomaly_map = scored.maps[index]
    figure = _figure(8, 2.9)
    panels = figure.subplots(1, 3)
    panels[0].imshow(picture)
    panels[0].set_title(f"label {'defective' if scored.labels[index] else 'good'}")
    panels[1].imshow(picture)
    shown = panels[1].imshow(anomaly_map, cmap="jet", alpha=0.5, vmin=vmin, vmax=vmax)
    panels[1].set_title(f"score {scored.scores[index]:.3g}")
    figure.colorbar(shown, ax=panels[1], fraction=0.046)
    panels[2].imshow(picture)
    if scored.masks is not None and scored.masks[index].any():
        panels[2].contour(scored.masks[index], levels=[0.5], colors="lime", linewidths=1)
        panels[2].set_title("ground truth")
    else:
        missing = scored.paths[index] in set(scored.missing_masks)
        panels[2].set_title("mask missing" if missing else "no defect pixels")
    for panel in panels:
        panel.axis("off")
    source = Path(scored.paths[index])
    figure.suptitle(f"{source.parent.name}/{source.name}", fontsize=9)
    figure.savefig(path)
    return path
