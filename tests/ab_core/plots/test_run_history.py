"""A local pretraining leaves its metric history: `metrics.csv` (the reported rows) and `curves.png`, in its
output directory and its final checkpoint; a resumed run carries the steps before the checkpoint on."""

from __future__ import annotations

import shutil

import pytest

from ab_core.checkpoints import latest_checkpoint
from ab_core.plots.curves import curve_names
from ab_core.plots.history import CURVES_FILE, METRICS_FILE, read_csv, to_csv
from tests.ab_core.test_training import recorded_run, simclr_spec

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def full_run(synth_root, tmp_path_factory):
    """(reports, output directory) of a 4-step SimCLR run with a checkpoint every 2 steps."""
    out = tmp_path_factory.mktemp("history") / "run"
    return recorded_run(simclr_spec(synth_root, steps=4, checkpoint_every=2), out), out


def test_a_tiny_pretraining_writes_the_reported_rows_and_their_curves(full_run):
    reports, out = full_run
    for directory in (out, latest_checkpoint(out)):
        rows = read_csv(directory / METRICS_FILE)
        assert [row["step"] for row in rows] == [report["step"] for report in reports] == [1, 2, 3, 4]
        assert [row["loss"] for row in rows] == [report["loss"] for report in reports]
        assert [row["lr"] for row in rows] == [report["lr"] for report in reports]
        assert "total_steps" not in rows[0] and "images_per_second" in rows[1]  # reported at checkpoints
        picture = (directory / CURVES_FILE).read_bytes()
        assert picture[:8] == PNG and len(picture) > 10_000
    halfway = out / "checkpoints" / "step_00000002"
    assert [row["step"] for row in read_csv(halfway / METRICS_FILE)] == [1, 2]  # the history so far
    assert not (halfway / CURVES_FILE).exists()  # drawn once, at the end


def test_a_resumed_run_keeps_the_history_before_its_checkpoint(full_run, synth_root, tmp_path):
    full, out = full_run
    halfway = out / "checkpoints" / "step_00000002"
    shutil.copytree(halfway, tmp_path / "resumed" / "checkpoints" / halfway.name)
    spec = simclr_spec(synth_root, steps=4, checkpoint_every=2)
    resumed = recorded_run(spec, tmp_path / "resumed", resume="auto")
    assert [report["step"] for report in resumed] == [3, 4]
    rows = read_csv(tmp_path / "resumed" / METRICS_FILE)
    assert [(row["step"], row["loss"]) for row in rows] == [(m["step"], m["loss"]) for m in full]


def test_curves_get_a_panel_for_loss_lr_and_each_method_metric_present():
    rows = [{"step": 1, "epoch": 0.5, "loss": 2.0, "lr": 0.1, "images_per_second": 9.0},
            {"step": 2, "epoch": 1.0, "loss": 1.0, "lr": 0.1, "std": 0.3, "category": "carpet"}]  # fmt: skip
    assert curve_names(rows) == ["loss", "lr", "std"]
    assert to_csv(rows).splitlines()[0] == "step,epoch,loss,lr,images_per_second,std,category"
