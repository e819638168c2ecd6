"""The pictures drawn from recorded data: a sweep's trials, several runs' curves, a leaderboard."""

from __future__ import annotations

from ab_core.plots.curves import draw_runs
from ab_core.plots.leaderboard import draw_leaderboard
from ab_core.plots.trials import TrialRecord, draw_trials

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def losses(start: float) -> list[dict]:
    return [{"step": step, "loss": start / step, "lr": 0.1} for step in (1, 2, 3)]


def recorded_trials() -> list[TrialRecord]:
    """Three trials of a sweep over temperature and optimiser (ranked by loss, min); one reported nothing."""
    return [
        TrialRecord("a 0.1", {"method.temperature": 0.1, "optim.name": "sgd"}, 1.0, losses(3.0)),
        TrialRecord("b 1.0", {"method.temperature": 1.0, "optim.name": "adam"}, 2.0, losses(6.0)),
        TrialRecord("c 10", {"method.temperature": 10.0, "optim.name": "sgd"}, None, []),
    ]


def test_trials_png_has_a_panel_per_searched_parameter_and_one_of_curves(tmp_path):
    one = draw_trials(tmp_path / "one.png", recorded_trials()[:1], "loss", "min")
    three = draw_trials(tmp_path / "trials.png", recorded_trials(), "loss", "min")
    width, height = png_size(three)
    assert (width, height) == png_size(one)  # 2 parameters + the curves: the same 2 x 2 grid
    assert width > height > 400
    unsearched = [TrialRecord("x", {}, 1.0, losses(1.0))]
    just_curves = draw_trials(tmp_path / "curves.png", unsearched, "loss", "min")
    assert png_size(just_curves)[0] < width  # no parameter searched: the curves panel alone


def test_several_runs_and_a_leaderboard_draw_to_png(tmp_path):
    runs = draw_runs(tmp_path / "runs.png", {"job-a": losses(3.0), "job-b": losses(5.0), "job-c": []}, "loss")
    assert png_size(runs) == (750, 450)
    bars = [("job-a padim", 0.97), ("job-b padim", 0.91), ("job-c padim", None)]
    board = draw_leaderboard(tmp_path / "board.png", bars, "image_auroc")
    assert png_size(board)[1] > png_size(draw_leaderboard(tmp_path / "one.png", bars[:1], "image_auroc"))[1]
