"""`abs plot ID...` and `abs results --plot FILE` against a served API: PNGs drawn from the data it serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ab_core.plots.curves
import ab_core.plots.leaderboard
from cli.main import main
from services.plane import ControlPlane
from tests.cli import test_results_cli
from tests.cli.test_results_cli import ALICE, CapSys
from tests.services.results_jobs import evaluate, pretrain_spec, probe

served = test_results_cli.served  # the fixture: a plane served over HTTP, the CLI's --url/--token, a root

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def trained(plane: ControlPlane, root: Path, losses: list[float]) -> str:
    """A finished pretraining whose worker reported `losses` at steps 1, 2, ..."""
    job, _ = plane.jobs.submit(ALICE, pretrain_spec(root))
    (claim,) = plane.queue.claim("worker-1", job_ids=[job.id])
    lease = plane.workers.authenticate(job.id, claim.worker_token)
    for step, loss in enumerate(losses, 1):
        progress = {"step": step, "total_steps": len(losses), "metrics": {"loss": loss, "lr": 0.1}}
        plane.workers.post_event(lease, "progress", progress)
    plane.queue.complete(job.id, claim.attempt, {})
    return job.id


def spy(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[tuple[Any, ...]]:
    """Record the arguments of `module.name` and still draw."""
    calls: list[tuple[Any, ...]] = []
    real = getattr(module, name)

    def recording(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(module, name, recording)
    return calls


def test_abs_plot_draws_each_jobs_curve_from_the_metrics_endpoint(
    served: Any, capsys: CapSys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    plane, connection, root = served
    first, second = trained(plane, root, [3.0, 2.0, 1.5]), trained(plane, root, [4.0, 3.5])
    drawn = spy(monkeypatch, ab_core.plots.curves, "draw_runs")
    out = tmp_path / "compare.png"
    assert main(["plot", first, second, "--out", str(out), *connection]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert png_size(out) == (750, 450)
    ((_, runs, metric),) = drawn
    assert metric == "loss"
    assert [[row["loss"] for row in rows] for rows in runs.values()] == [[3.0, 2.0, 1.5], [4.0, 3.5]]
    assert [label[-9:-1] for label in runs] == [first[-8:], second[-8:]]  # "<name> (<short id>)"


def test_abs_plot_of_a_metric_no_job_reported_names_the_ones_they_did(
    served: Any, capsys: CapSys, tmp_path: Path
):
    plane, connection, root = served
    job_id = trained(plane, root, [1.0])
    assert main(["plot", job_id, "--metric", "top1", "--out", str(tmp_path / "x.png"), *connection]) == 2
    assert f"no job of {job_id} reported --metric 'top1'; they report: loss, lr" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_results_plot_draws_one_bar_per_row_of_the_ranked_metric(
    served: Any, capsys: CapSys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    plane, connection, root = served
    evaluate(plane, ALICE, root, {"carpet": 0.9}, backbone={"weights": "imagenet"})
    evaluate(plane, ALICE, root, {"carpet": 0.7}, method="rd4ad", backbone={"weights": "imagenet"})
    probe(plane, ALICE, root, 0.625, backbone={"weights": "none"})
    drawn = spy(monkeypatch, ab_core.plots.leaderboard, "draw_leaderboard")
    board = tmp_path / "board.png"
    assert main(["results", "--plot", str(board), *connection]) == 0
    captured = capsys.readouterr()
    assert "3 of 3 rows" in captured.out and str(board) in captured.err  # the table still prints
    ((_, bars, metric, _),) = drawn
    expected = {"imagenet / padim": 0.9, "imagenet / rd4ad": 0.7, "random init / linear_probe": 0.625}
    assert dict(bars) == expected
    assert metric == "image_auroc or top1"
    width, height = png_size(board)
    assert width == 800 and height > 200
