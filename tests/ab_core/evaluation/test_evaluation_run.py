import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from ab_core.errors import CheckpointError, DataError, SpecError
from ab_core.evaluation.run import evaluate
from ab_core.specs import parse_spec

CATEGORIES = ["carpet", "screw"]


@pytest.fixture(scope="module")
def synth12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 px synthetic data with 12 train / 4 good / 8 defective test images per category."""
    from ab_core.data.synth import generate

    root = tmp_path_factory.mktemp("synth12")
    generate(root, seed=0, size=32, per_category=12)
    return root


def spec_for(method: dict, data: dict):
    return parse_spec({"kind": "evaluate", "method": method, "seed": 0,
                       "data": {"resize": 32, "crop": 32, "batch_size": 8, **data}})


def run_collecting(spec, out: Path) -> tuple[dict, list[dict]]:
    reports: list[dict] = []
    report = lambda metrics, checkpoint_dir=None: reports.append(metrics)  # noqa: E731
    result = evaluate(spec, out, report, torch.device("cpu"))
    return result, reports


@pytest.fixture(scope="module")
def padim_run(synth12: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict], Path]:
    out = tmp_path_factory.mktemp("padim_out")
    spec = spec_for({"method": "padim"}, {"dataset": "mvtec", "root": str(synth12 / "mvtec"),
                                          "categories": CATEGORIES})
    result, reports = run_collecting(spec, out)
    return result, reports, out


def test_padim_scores_planted_defects_above_normal_images(padim_run):
    result, _, _ = padim_run
    for category in CATEGORIES:
        metrics = result["categories"][category]
        assert metrics["image_auroc"] >= 0.9, (category, metrics)
        assert metrics["pixel_auroc"] >= 0.7, (category, metrics)
        assert 0.0 < metrics["aupro"] <= 1.0


def test_evaluation_reports_each_category_and_tables_their_mean(padim_run):
    result, reports, out = padim_run
    assert [r["category"] for r in reports] == CATEGORIES
    assert reports[0]["image_auroc"] == result["categories"]["carpet"]["image_auroc"]
    expected = sum(result["categories"][c]["pixel_auroc"] for c in CATEGORIES) / 2
    assert result["mean"]["pixel_auroc"] == pytest.approx(expected)
    table = (out / "table.md").read_text()
    assert "| carpet |" in table and "| screw |" in table and "**mean**" in table
    assert json.loads((out / "results.json").read_text())["mean"] == result["mean"]


def test_evaluation_writes_scores_csv_roc_and_overlays_per_category(padim_run):
    _, _, out = padim_run
    for category in CATEGORIES:
        rows = list(csv.DictReader((out / category / "scores.csv").open()))
        assert len(rows) == 12 and {r["label"] for r in rows} == {"0", "1"}
        for picture in ("roc.png", "overlays.png"):
            assert (out / category / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_masks_skip_only_pixel_metrics(synth12: Path, tmp_path: Path):
    root = tmp_path / "mvtec"
    for category in CATEGORIES:
        shutil.copytree(synth12 / "mvtec" / category, root / category)
    lost = sorted((root / "carpet" / "ground_truth" / "hole").iterdir())[0]
    lost.unlink()  # one defect image without its mask
    shutil.rmtree(root / "screw" / "ground_truth")  # a category without any mask
    spec = spec_for({"method": "padim", "n_features": 40}, {"dataset": "mvtec", "root": str(root)})
    result, _ = run_collecting(spec, tmp_path / "out")

    carpet, screw = result["categories"]["carpet"], result["categories"]["screw"]
    skipped_image = str(root / "carpet" / "test" / "hole" / lost.name.replace("_mask", ""))
    assert carpet["pixel_metrics_skipped"] == [skipped_image]
    assert isinstance(carpet["pixel_auroc"], float) and isinstance(carpet["aupro"], float)
    assert screw["pixel_auroc"] is None and screw["aupro"] is None
    assert "mask" in screw["pixel_metrics_absent"]
    assert screw["image_auroc"] >= 0.9  # image metrics still run
    assert result["mean"]["pixel_auroc"] == carpet["pixel_auroc"]  # the mean skips the absent value
    rows = {r["path"]: r for r in csv.DictReader((tmp_path / "out" / "carpet" / "scores.csv").open())}
    assert rows[skipped_image]["pixel_metrics"] == "no"


def test_rd4ad_reports_epoch_progress_per_category(synth12: Path, tmp_path: Path):
    spec = spec_for({"method": "rd4ad", "epochs": 2},
                    {"dataset": "mvtec", "root": str(synth12 / "mvtec"), "categories": ["tile"]})
    result, reports = run_collecting(spec, tmp_path)
    assert [(r["category"], r["epoch"]) for r in reports if "epoch" in r] == [("tile", 0), ("tile", 1)]
    assert reports[-1]["category"] == "tile" and "image_auroc" in reports[-1]
    assert result["categories"]["tile"]["images"] == 12


def test_linear_probe_reports_top1_and_top5_and_writes_predictions(synth12: Path, tmp_path: Path):
    spec = spec_for({"method": "linear_probe", "epochs": 30}, {"dataset": "image_folder",
                                                               "root": str(synth12 / "classes")})
    result, reports = run_collecting(spec, tmp_path)
    assert result["classes"] == 6 and result["top1"] >= 0.8 and result["top5"] >= result["top1"]
    assert reports == [{k: result[k] for k in reports[0]}]
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert len(rows) == result["test_images"]


def test_a_missing_category_names_the_root_and_the_expected_layout(synth12: Path, tmp_path: Path):
    spec = spec_for({"method": "padim"}, {"dataset": "mvtec", "root": str(synth12 / "mvtec"),
                                          "categories": ["nonexistent"]})
    with pytest.raises(DataError, match=r"nonexistent.*<category>/train/good"):
        evaluate(spec, tmp_path, lambda *a, **k: None, torch.device("cpu"))


def test_anomaly_evaluators_refuse_data_that_is_not_in_an_anomaly_layout(synth12: Path, tmp_path: Path):
    spec = spec_for({"method": "padim"}, {"dataset": "image_folder", "root": str(synth12 / "classes")})
    accepted = "'image_folder', accepted: mvtec, visa, mvtec_ad2, btad, dagm, aitex"
    with pytest.raises(SpecError, match=accepted):
        evaluate(spec, tmp_path, lambda *a, **k: None, torch.device("cpu"))


def test_a_checkpoint_of_another_architecture_names_both(synth12: Path, tmp_path: Path):
    from ab_core.models.backbone import ResNetBackbone

    weights = tmp_path / "r34.pt"
    torch.save(ResNetBackbone("resnet34").state_dict(), weights)
    spec = parse_spec({
        "kind": "evaluate",
        "method": {"method": "padim"},
        "backbone": {"weights": str(weights)},  # arch defaults to resnet18
        "data": {"dataset": "mvtec", "root": str(synth12 / "mvtec"), "resize": 32, "crop": 32},
    })
    with pytest.raises(CheckpointError, match=r"resnet34.*resnet18"):
        evaluate(spec, tmp_path / "out", lambda *a, **k: None, torch.device("cpu"))


def test_an_mvtec_root_without_categories_names_the_expected_layout(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    spec = spec_for({"method": "padim"}, {"dataset": "mvtec", "root": str(tmp_path / "empty")})
    with pytest.raises(DataError, match=r"holds no category.*<category>/train/good"):
        evaluate(spec, tmp_path / "out", lambda *a, **k: None, torch.device("cpu"))
