"""bench/backbone_study.py through the service: one pipeline (pretrain -> PaDiM) on the photo set, its row
read back from the leaderboard with the tuned and held-out photos apart, and the Markdown section."""

from __future__ import annotations

from pathlib import Path

from ab_core.data.photo_textures import build
from ab_core.specs import parse_spec
from bench import backbone_study, study_report
from cli.api import Client
from tests.e2e.conftest import Service


def test_a_two_step_study_pipeline_reaches_the_leaderboard_with_the_held_out_photo_apart(
    service: Service, dispatcher, synth_root: Path, tmp_path: Path
) -> None:
    root = synth_root / "photo-study"  # inside the service's allowed dataset roots
    build(root, size=32, photos=("brick", "gravel"), train=4, test_good=2, test_per_defect=1)
    plan = backbone_study.Plan(root, ["brick"], "gravel", ["simclr"], steps=2, size=32, batch_size=4,
                               rd4ad_epochs=1, padim_features=20, evaluators=("padim",),
                               random_init=False)  # fmt: skip
    with Client(service.url, service.token) as client:
        study = backbone_study.run_study(client, plan, sweep=None, timeout=300)
        (figure,) = study["figures"]
        pretrain = client.job(figure["pretrain_job"])
    assert pretrain["state"] == "succeeded" and pretrain["spec"]["method"]["method"] == "simclr"
    assert pretrain["spec"]["schedule"]["steps"] == 2
    assert (figure["backbone"], figure["evaluator"]) == ("simclr", "padim")
    for metric in ("tuned_image_auroc", "brick_image_auroc", "held_out_image_auroc", "held_out_pixel_auroc"):
        assert 0.0 <= figure[metric] <= 1.0, figure
    assert figure["tuned_image_auroc"] == figure["brick_image_auroc"]  # one tuned photo: its own mean
    assert figure["pretrain_job"] in study["table"]  # the `abs results` row names its backbone job

    setup = {"command": "test", "quick": True, "steps": 2, "size": 32, "batch_size": 4, "seed": 0,
             "tuned": ["brick"], "held_out": "gravel", "rd4ad_epochs": 1, "skipped": {}, "sweep": None,
             "counts": {"train": 4}, "contrast": 0.5}  # fmt: skip
    doc = tmp_path / "research.md"
    doc.write_text("# Research\n\nprose kept\n")
    for _ in range(2):  # a rerun replaces the section, keeps the prose
        study_report.write_section(doc, study_report.section(setup, study["figures"], study["table"], None))
    text = doc.read_text()
    assert text.startswith("# Research\n\nprose kept\n") and text.count(study_report.BEGIN) == 1
    assert "SMOKE RUN" in text and f"| simclr | padim | {figure['tuned_image_auroc']:.4f} |" in text


def test_every_registered_pretrainer_validates_at_the_study_sizes(tmp_path: Path) -> None:
    """relative_position's default grid (204 px) is scaled to the crop; nothing is left out of the table."""
    for size in (64, 128):
        plan = backbone_study.Plan(tmp_path, ["brick"], None, None, steps=2, size=size, batch_size=4,
                                   rd4ad_epochs=1, padim_features=20)  # fmt: skip
        runnable, skipped = backbone_study.runnable_pretrainers(plan)
        assert skipped == {} and "relative_position" in runnable, (size, skipped)
    assert backbone_study.fitted("relative_position", 128) == {"patch_size": 30, "gap": 15, "jitter": 3}
    assert backbone_study.fitted("simclr", 128) == {}


def test_set_overrides_one_pretrainers_params_over_its_fitted_defaults(tmp_path: Path) -> None:
    overrides = backbone_study.parse_overrides(["relative_position.patch_size=24", "psco.strength=0.5"])
    assert overrides == {"relative_position": {"patch_size": 24}, "psco": {"strength": 0.5}}
    plan = backbone_study.Plan(tmp_path, ["brick"], None, None, steps=2, size=128, batch_size=4,
                               rd4ad_epochs=1, padim_features=20, overrides=overrides)  # fmt: skip
    spec = backbone_study.pretrain_spec(plan, "relative_position")
    assert spec["method"] == {"method": "relative_position", "patch_size": 24, "gap": 15, "jitter": 3}
    assert parse_spec(spec).method.patch_size == 24
    assert backbone_study.pretrain_spec(plan, "simclr")["method"] == {"method": "simclr"}
