"""`abs results` against a served API: the aligned table with the numbers, filters, JSON, and errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from cli.embedded import serving_in_thread
from cli.main import main
from services.plane import ControlPlane
from services.ray_head import free_port
from services.records import Principal
from services.settings import load_settings
from services.testing import throwaway_database
from tests.services.results_jobs import evaluate, pretrain, probe, sweep

ALICE = Principal("alice")
CapSys = pytest.CaptureFixture[str]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ControlPlane, list[str], Path]]:
    """A plane over a fresh SQLite database, served; yields it, the CLI's --url/--token and a data root."""
    with throwaway_database("sqlite", tmp_path) as db:
        url = db.engine.url.render_as_string(hide_password=False)
        settings = load_settings(data_dir=tmp_path, database_url=url, redis_url=None)
        plane = ControlPlane.build(settings, db=db)
        token = plane.tokens.create("alice")
        with serving_in_thread(create_app(settings, plane), port=free_port()) as base:
            yield plane, ["--url", base, "--token", token], settings.data_dir / "datasets" / "synth"


def cells(line: str) -> list[str]:
    return re.split(r" {2,}", line.strip())


def abs_results(capsys: CapSys, connection: list[str], *args: str) -> tuple[int, str, str]:
    """`abs results <connection> <args>`: (exit code, stdout, stderr)."""
    code = main(["results", *connection, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_table_aligns_backbones_evaluators_and_their_numbers(served: Any, capsys: CapSys):
    plane, connection, root = served
    sweep_id, trials = sweep(plane, ALICE, root, [0.1, 0.7], best=1)
    evaluate(plane, ALICE, root, {"carpet": 0.9125, "screw": 0.8}, backbone={"from_job": sweep_id})
    evaluate(plane, ALICE, root, {"carpet": 0.7}, method="rd4ad", backbone={"weights": "imagenet"})
    probe(plane, ALICE, root, 0.625, backbone={"weights": "none"})
    code, out, _ = abs_results(capsys, connection)
    assert code == 0
    header, best, imagenet, random_init, footer = (cells(line) for line in out.splitlines())
    assert header == ["backbone", "method", "params", "evaluator", "dataset", "image_auroc", "pixel_auroc",
                      "aupro", "image_f1_max", "pixel_f1_max", "top1", "top5", "finished"]  # fmt: skip
    # the best trial, its knob off the default, the mean of carpet 0.9125 and screw 0.8
    assert best[:8] == [f"{trials[1].id} (sweep best)", "simclr", "temperature=0.7", "padim", "mvtec",
                        "0.8562", "0.8062", "0.6562"]  # fmt: skip
    assert best[10:12] == ["-", "-"] and best[12].startswith("20")
    assert imagenet[:6] == ["imagenet", "-", "-", "rd4ad", "mvtec", "0.7000"]
    assert random_init[:5] == ["random init", "-", "-", "linear_probe", "image_folder"]
    assert random_init[5:12] == ["-"] * 5 + ["0.6250", "1.0000"]
    assert footer == ["3 of 3 rows"]
    lines = out.splitlines()
    column = lines[0].index("image_auroc") + len("image_auroc")
    assert lines[1][column - 6 : column] == "0.8562" and lines[2][column - 6 : column] == "0.7000"  # aligned


def test_filters_reach_the_api_and_a_category_shows_its_own_numbers(
    served: Any, capsys: CapSys
):
    plane, connection, root = served
    backbone = pretrain(plane, ALICE, root, method="supervised")
    evaluate(plane, ALICE, root, {"carpet": 0.91, "screw": 0.55}, backbone={"from_job": backbone.id})
    evaluate(plane, ALICE, root, {"carpet": 0.6}, method="rd4ad", backbone={"weights": "imagenet"})
    _, out, _ = abs_results(capsys, connection, "--method", "supervised", "--category", "screw")
    (row,) = (cells(line) for line in out.splitlines()[1:-1])
    assert row[:6] == [backbone.id, "supervised", "-", "padim", "mvtec/screw", "0.5500"]  # not the mean 0.73
    assert out.splitlines()[-1] == "1 of 1 rows, screw only"
    _, out, _ = abs_results(capsys, connection, "--evaluator", "rd4ad", "--limit", "5")
    assert [line.split()[0] for line in out.splitlines()[1:-1]] == ["imagenet"]


def test_json_prints_the_api_page(served: Any, capsys: CapSys):
    plane, connection, root = served
    evaluation = evaluate(plane, ALICE, root, {"carpet": 0.9}, backbone={"weights": "imagenet"})
    _, out, _ = abs_results(capsys, connection, "--json", "--sort", "aupro")
    page = json.loads(out)
    assert page["sort"] == "aupro" and page["items"][0]["evaluator"]["job_id"] == evaluation.id


def test_an_unknown_evaluator_is_one_error_line_naming_the_accepted_ones(
    served: Any, capsys: CapSys
):
    _, connection, _ = served
    code, out, err = abs_results(capsys, connection, "--evaluator", "fastflow")
    assert code == 2 and out == ""
    assert "422" in err and "evaluator: unknown value 'fastflow'; accepted:" in err and "padim" in err


def test_no_rows_says_so(served: Any, capsys: CapSys):
    _, connection, _ = served
    assert abs_results(capsys, connection) == (0, "no results match\n", "")
