"""What `trials.png` is drawn from: each trial's objective and the reports Tune kept for it."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from workers.sweep import trial_record


def test_a_trial_record_takes_the_objective_and_every_report_without_tunes_nan_fill():
    frame = pd.DataFrame([
        {"step": 1.0, "loss": 2.0, "training_iteration": 1, "image_auroc": float("nan")},
        {"step": 2.0, "loss": 1.5, "training_iteration": 2, "image_auroc": float("nan")},
        {"step": float("nan"), "loss": float("nan"), "training_iteration": 3, "image_auroc": 0.9},
    ])  # fmt: skip
    result = SimpleNamespace(metrics={"image_auroc": 0.9, "done": True}, metrics_dataframe=frame)
    record = trial_record("0123456789ab", {"method.temperature": 0.5}, result, "image_auroc")
    assert record.label == "456789ab temperature=0.5" and record.value == 0.9
    assert [row.get("step") for row in record.rows] == [1.0, 2.0, None]
    assert [row.get("loss") for row in record.rows] == [2.0, 1.5, None]
    assert "image_auroc" not in record.rows[0] and record.rows[2]["image_auroc"] == 0.9
    empty = trial_record("x", {}, SimpleNamespace(metrics={}, metrics_dataframe=None), "image_auroc")
    assert empty.value is None and empty.rows == []
