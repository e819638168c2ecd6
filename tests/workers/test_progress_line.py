"""The line a Ray job's log shows per report: step/total, loss first, the method's metrics, speed, ETA."""

from __future__ import annotations

from workers.progress_line import ProgressLine, format_progress

REPORT = {"step": 40, "total_steps": 200, "epoch": 1.6, "lr": 3e-4, "top1": 0.25, "loss": 4.51234,
          "worker_pid": 123, "collapsed": False}  # fmt: skip


def test_a_pretraining_report_reads_step_of_total_then_loss_then_the_methods_metrics_speed_and_eta():
    line = format_progress(REPORT, images_per_second=312.4, eta_seconds=125)
    expected = "step 40/200 (20%)  epoch 1.60  loss 4.512  lr 3.00e-04  top1 0.25  |  312 img/s  ETA 2m05s"
    assert line == expected


def test_true_flags_show_by_name_and_a_warning_ends_the_line():
    line = format_progress(REPORT | {"collapsed": True, "warning": "embedding std 0.001: collapse"})
    assert line.endswith("top1 0.25  collapsed  ! embedding std 0.001: collapse")
    assert "worker_pid" not in line and "|" not in line  # no speed known: no speed part


def test_an_evaluation_report_names_its_category_and_has_no_step():
    line = format_progress({"category": "tile", "image_auroc": 0.9731, "pixel_auroc": 0.95, "images": 6})
    assert line == "[tile]  image_auroc 0.9731  pixel_auroc 0.95  images 6"
    assert format_progress({"final": 1, "image_auroc": 0.9}) == "final  image_auroc 0.9"


def test_speed_and_eta_come_from_the_time_between_reports():
    times = iter([100.0, 110.0, 130.0])
    printed: list[str] = []
    progress = ProgressLine(images_per_step=64, clock=lambda: next(times), out=printed.append)
    first = progress({"step": 10, "total_steps": 100, "loss": 2.0, "images_per_second": 50.0})
    assert first.endswith("|  50 img/s")  # the loop's own figure until a second report times one
    progress({"step": 20, "total_steps": 100, "loss": 1.5})  # 10 steps in 10 s
    last = progress({"step": 40, "total_steps": 100, "loss": 1.0})  # 30 steps in 30 s: 1 step/s
    assert last.endswith("|  64 img/s  ETA 1m00s")
    assert printed == [first, printed[1], last]


def test_a_run_restored_to_an_earlier_step_times_from_there_again():
    times = iter([0.0, 10.0, 1000.0, 1002.0])
    progress = ProgressLine(images_per_step=8, clock=lambda: next(times), out=lambda line: None)
    progress({"step": 10, "total_steps": 20})
    progress({"step": 15, "total_steps": 20})
    progress({"step": 12, "total_steps": 20})  # the worker died; its checkpoint of step 12 resumed
    assert progress({"step": 14, "total_steps": 20}).endswith("|  8 img/s  ETA 6s")  # 1 step/s since resuming


def test_long_etas_read_in_hours():
    assert format_progress({"step": 1, "total_steps": 10}, eta_seconds=3725).endswith("ETA 1h02m")
