"""Scoring a `RepeatedEvaluator` once per seeded draw: per-draw metrics, their mean and standard deviation."""

from __future__ import annotations

import statistics
from typing import Any

from ab_core.contracts import RepeatedEvaluator
from ab_core.data.loader import ImageDataset
from ab_core.evaluation.scoring import IMAGE_METRICS, PIXEL_METRICS, ScoredSet, anomaly_metrics, score_dataset

DRAW_METRICS = IMAGE_METRICS + PIXEL_METRICS


def score_draws(
    evaluator: RepeatedEvaluator, dataset: ImageDataset, batch_size: int, seed: int
) -> tuple[ScoredSet, dict[str, Any]]:
    """(the first draw's scored set, for the pictures and scores CSV; the metrics).

    The metrics are the first draw's anomaly metrics with each of `DRAW_METRICS` replaced by its mean over
    the draws and `<metric>_std` (population standard deviation, 0 for one draw) beside it, None where a
    draw lacks it; then `evaluator.fit_record`, and `draws`: one row per draw, what `draw` returned and
    that draw's metrics.
    """
    if evaluator.draws < 1:
        raise ValueError(f"an evaluator with {evaluator.draws} draws cannot be scored; accepted: >= 1")
    first: tuple[ScoredSet, dict[str, Any]] | None = None
    rows: list[dict[str, Any]] = []
    for index in range(evaluator.draws):
        record = evaluator.draw(index)
        scored = score_dataset(evaluator, dataset, batch_size, seed)
        metrics = anomaly_metrics(scored)
        if first is None:
            first = (scored, metrics)
        rows.append({"draw": index, **record, **{name: metrics.get(name) for name in DRAW_METRICS}})
    assert first is not None
    summary = dict(first[1])
    for name in DRAW_METRICS:
        values = [row[name] for row in rows]
        numbers = [float(v) for v in values if isinstance(v, (int, float))]
        complete = len(numbers) == len(values)
        summary[name] = statistics.fmean(numbers) if complete else None
        summary[f"{name}_std"] = statistics.pstdev(numbers) if complete else None
    return first[0], summary | dict(evaluator.fit_record) | {"draws": rows}
