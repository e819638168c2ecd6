"""The results leaderboard: rows join the right backbone, filters narrow them, owners stay apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from services.plane import ControlPlane
from services.records import Principal
from services.results import UnknownFilterError
from tests.services.results_jobs import evaluate, pretrain, probe, submit_evaluation, sweep, write_checkpoint

ALICE, BOB, ADMIN = Principal("alice"), Principal("bob"), Principal("root", admin=True)


def test_an_evaluation_of_a_from_job_backbone_joins_that_pretraining(plane: ControlPlane, dataset_root: Path):
    backbone = pretrain(plane, ALICE, dataset_root, temperature=0.2)
    evaluation = evaluate(plane, ALICE, dataset_root, {"carpet": 0.9, "screw": 0.7},
                          backbone={"from_job": backbone.id})  # fmt: skip
    (row,) = plane.results.rows(ALICE).items
    assert (row.backbone.source, row.backbone.job_id, row.backbone.method) == ("job", backbone.id, "simclr")
    assert row.backbone.params["temperature"] == 0.2 and "method" not in row.backbone.params
    assert row.backbone.spec_hash == backbone.spec_hash
    assert row.backbone.dataset_fingerprint == "classes-simclr"
    assert row.backbone.checkpoint == str(plane.settings.runs_dir / backbone.id / "checkpoint_000004")
    assert row.evaluator.job_id == evaluation.id
    assert (row.evaluator.method, row.evaluator.dataset) == ("padim", "mvtec")
    assert row.evaluator.categories == ["carpet", "screw"] and row.evaluator.dataset_fingerprint == "mvtec-fp"
    assert row.evaluator.spec_hash == evaluation.spec_hash and "n_features" in row.evaluator.params
    assert row.metrics["image_auroc"] == pytest.approx(0.8)
    assert row.categories["screw"]["image_auroc"] == 0.7 and row.categories["screw"]["images"] == 12
    assert "pixel_metrics_skipped" not in row.categories["screw"]  # numbers only
    assert row.finished_at == evaluation.finished_at


def test_a_sweep_named_as_backbone_resolves_to_its_best_trial(plane: ControlPlane, dataset_root: Path):
    sweep_id, trials = sweep(plane, ALICE, dataset_root, [0.1, 0.5, 0.9], best=1)
    evaluate(plane, ALICE, dataset_root, {"carpet": 0.8}, backbone={"from_job": sweep_id})
    (row,) = plane.results.rows(ALICE).items
    assert row.backbone.job_id == trials[1].id and row.backbone.params["temperature"] == 0.5
    assert row.backbone.parent_id == sweep_id and row.backbone.sweep_id == sweep_id


def test_weights_name_imagenet_random_init_a_job_checkpoint_or_a_foreign_path(
    plane: ControlPlane, dataset_root: Path
):
    trained = pretrain(plane, ALICE, dataset_root, method="supervised")
    checkpoint = trained.result["checkpoint"]  # type: ignore[index]
    foreign = write_checkpoint(dataset_root / "elsewhere" / "ck")  # not a job's: under an allowed root
    for weights, auroc in (("imagenet", 0.9), ("none", 0.6), (checkpoint + "/", 0.8), (foreign, 0.7)):
        evaluate(plane, ALICE, dataset_root, {"carpet": auroc}, backbone={"weights": weights})
    rows = plane.results.rows(ALICE).items
    assert [(r.backbone.source, r.backbone.job_id, r.backbone.method) for r in rows] == [
        ("imagenet", None, None), ("job", trained.id, "supervised"), ("checkpoint", None, None),
        ("none", None, None),
    ]  # fmt: skip
    assert rows[2].backbone.checkpoint == foreign


def test_a_linear_probe_row_carries_top1_and_top5(plane: ControlPlane, dataset_root: Path):
    backbone = pretrain(plane, ALICE, dataset_root)
    probe(plane, ALICE, dataset_root, 0.75, backbone={"from_job": backbone.id})
    (row,) = plane.results.rows(ALICE).items
    assert row.metrics == {"top1": 0.75, "top5": 1.0} and row.categories == {}
    assert (row.evaluator.method, row.evaluator.dataset, row.backbone.job_id) == (
        "linear_probe", "image_folder", backbone.id
    )


def test_filters_narrow_the_rows(plane: ControlPlane, dataset_root: Path):
    simclr = pretrain(plane, ALICE, dataset_root)
    evaluate(plane, ALICE, dataset_root, {"carpet": 0.9, "screw": 0.5}, backbone={"from_job": simclr.id})
    evaluate(plane, ALICE, dataset_root, {"carpet": 0.7}, method="rd4ad", backbone={"weights": "imagenet"})
    probe(plane, ALICE, dataset_root, 0.8, backbone={"from_job": simclr.id})

    def evaluators(**filters: str) -> list[str]:
        return [row.evaluator.method for row in plane.results.rows(ALICE, **filters).items]  # type: ignore[arg-type]

    assert sorted(evaluators()) == ["linear_probe", "padim", "rd4ad"]
    assert evaluators(evaluator="rd4ad") == ["rd4ad"]
    assert sorted(evaluators(method="simclr")) == ["linear_probe", "padim"]
    assert evaluators(method="imagenet") == ["rd4ad"] and evaluators(method="none") == []
    assert sorted(evaluators(dataset="mvtec")) == ["padim", "rd4ad"]
    assert evaluators(dataset=str(dataset_root / "classes")) == ["linear_probe"]
    assert sorted(evaluators(category="carpet")) == ["padim", "rd4ad"]
    assert evaluators(category="screw", evaluator="padim") == ["padim"]


def test_a_category_filter_keeps_only_that_categorys_metrics_and_sorts_by_them(
    plane: ControlPlane, dataset_root: Path
):
    high_mean = evaluate(plane, ALICE, dataset_root, {"carpet": 0.6, "screw": 1.0})
    low_mean = evaluate(plane, ALICE, dataset_root, {"carpet": 0.8, "screw": 0.4})
    assert [r.evaluator.job_id for r in plane.results.rows(ALICE).items] == [high_mean.id, low_mean.id]
    rows = plane.results.rows(ALICE, category="carpet").items
    assert [r.evaluator.job_id for r in rows] == [low_mean.id, high_mean.id]
    assert rows[0].metrics["image_auroc"] == 0.8 and list(rows[0].categories) == ["carpet"]


def test_rows_sort_best_first_by_the_chosen_metric_and_limit_cuts_after_sorting(
    plane: ControlPlane, dataset_root: Path
):
    for auroc in (0.7, 0.95, 0.8):
        evaluate(plane, ALICE, dataset_root, {"carpet": auroc}, backbone={"weights": "none"})
    probe(plane, ALICE, dataset_root, 0.99, backbone={"weights": "none"})
    page = plane.results.rows(ALICE, sort="image_auroc", limit=2)
    assert [r.metrics["image_auroc"] for r in page.items] == [0.95, 0.8] and page.total == 4
    by_top1 = plane.results.rows(ALICE, sort="top1").items
    assert by_top1[0].metrics == {"top1": 0.99, "top5": 1.0}  # rows without top1 follow
    by_aupro = plane.results.rows(ALICE, sort="aupro").items
    assert [r.metrics["aupro"] for r in by_aupro[:3]] == pytest.approx([0.75, 0.6, 0.5])
    assert by_aupro[3].evaluator.method == "linear_probe"


def test_only_succeeded_evaluations_are_rows(plane: ControlPlane, dataset_root: Path):
    pretrain(plane, ALICE, dataset_root)
    done = evaluate(plane, ALICE, dataset_root, {"carpet": 0.9}, backbone={"weights": "none"})
    failed, _ = submit_evaluation(plane, ALICE, dataset_root, {"carpet": 0.9})
    (claim,) = plane.queue.claim("worker-1", job_ids=[failed.id])
    plane.queue.fail(failed.id, claim.attempt, "DataError: no images")
    running, _ = submit_evaluation(plane, ALICE, dataset_root, {"carpet": 0.9})
    plane.queue.claim("worker-1", job_ids=[running.id])
    submit_evaluation(plane, ALICE, dataset_root, {"carpet": 0.9})  # queued
    assert [r.evaluator.job_id for r in plane.results.rows(ALICE).items] == [done.id]


def test_callers_see_only_their_own_rows_and_backbones_and_admins_see_all(
    plane: ControlPlane, dataset_root: Path
):
    bobs = pretrain(plane, BOB, dataset_root)
    evaluate(plane, BOB, dataset_root, {"carpet": 0.9}, backbone={"from_job": bobs.id})
    # alice evaluates a copy of bob's checkpoint under a dataset root (bob's own path is refused her at
    # submit): the row is hers, bob's job stays unnamed
    checkpoint = write_checkpoint(dataset_root / "copies" / "bobs")
    evaluate(plane, ALICE, dataset_root, {"carpet": 0.8}, backbone={"weights": checkpoint})
    (alices,) = plane.results.rows(ALICE).items
    assert (alices.backbone.source, alices.backbone.job_id) == ("checkpoint", None)
    assert [r.backbone.job_id for r in plane.results.rows(BOB).items] == [bobs.id]
    admin_rows = plane.results.rows(ADMIN).items
    assert len(admin_rows) == 2 and {r.backbone.job_id for r in admin_rows} == {bobs.id, None}


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [("evaluator", "fastflow", "linear_probe, padim, patchcore, rd4ad"), ("evaluator", "simclr", "padim"),
     ("method", "padim", "simclr"), ("method", "moco", "imagenet, none"), ("sort", "auroc", "image_auroc")],
)  # fmt: skip
def test_an_unknown_filter_value_names_the_parameter_and_what_is_accepted(
    plane: ControlPlane, parameter: str, value: str, accepted: str
):
    expected = f"{parameter}: unknown value '{value}'; accepted: .*{accepted}"
    with pytest.raises(UnknownFilterError, match=expected):
        plane.results.rows(ALICE, **{parameter: value})  # type: ignore[arg-type]


def test_backbones_are_read_in_a_fixed_number_of_queries_whatever_the_rows(
    plane: ControlPlane, dataset_root: Path
):
    def statements_for_rows() -> int:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
        event.listen(plane.db.engine, "before_cursor_execute", listener)
        try:
            plane.results.rows(ALICE)
        finally:
            event.remove(plane.db.engine, "before_cursor_execute", listener)
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

    sweep_id, _ = sweep(plane, ALICE, dataset_root, [0.1], best=0)
    evaluate(plane, ALICE, dataset_root, {"carpet": 0.8}, backbone={"from_job": sweep_id})
    one = statements_for_rows()
    for _ in range(4):
        backbone = pretrain(plane, ALICE, dataset_root)
        evaluate(plane, ALICE, dataset_root, {"carpet": 0.8}, backbone={"from_job": backbone.id})
        checkpoint = backbone.result["checkpoint"]  # type: ignore[index]
        evaluate(plane, ALICE, dataset_root, {"carpet": 0.8}, backbone={"weights": checkpoint})
    assert len(plane.results.rows(ALICE).items) == 9
    assert statements_for_rows() == one == 3  # evaluations, named backbones, sweeps' best trials
