"""`abs data check` and the check before a job: layout detection, counts, and every problem named by file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ab_core.data.check import check_before_job, check_data, detect_layout
from ab_core.errors import DataError
from ab_core.specs import DataSpec
from cli.main import main


def test_each_miniature_layout_is_detected(
    visa_root: Path, mvtec_ad2_root: Path, btad_root: Path, dagm_root: Path, aitex_root: Path,
    synth_root: Path,
) -> None:
    found = [detect_layout(root) for root in (visa_root, mvtec_ad2_root, btad_root, dagm_root, aitex_root,
                                              synth_root / "mvtec", synth_root / "classes")]
    assert found == ["visa", "mvtec_ad2", "btad", "dagm", "aitex", "mvtec", "image_folder"]


def test_the_report_counts_per_category_and_split(mvtec_ad2_root: Path) -> None:
    report = check_data(DataSpec(dataset="mvtec_ad2", root=str(mvtec_ad2_root)))
    assert report.ok and report.counts == {"can": {
        "train": {"normal": 3}, "test": {"normal": 1, "defective": 2}, "validation": {"images": 1},
        "test_private": {"images": 1}, "test_private_mixed": {"images": 1}}}
    assert set(report.unscored) == {"can/test_private", "can/test_private_mixed"}


def test_every_kind_of_problem_is_named(visa_root: Path, write) -> None:
    data = visa_root / "candle" / "Data"
    (data / "Masks" / "Anomaly" / "001.png").unlink()  # an image without its mask
    write.mask(data / "Masks" / "Anomaly" / "007.png")  # a mask without its image
    write.mask(data / "Masks" / "Anomaly" / "000.png", size=(16, 20))  # a size mismatch
    (data / "Images" / "Normal" / "0002.JPG").write_bytes(b"not a jpeg")  # unreadable
    (data / "Images" / "Normal" / "0005.gif").write_bytes(b"GIF89a")  # not an accepted type
    report = check_data(DataSpec(dataset="visa", root=str(visa_root), categories=["candle"]))
    assert report.missing_masks == [str(data / "Images" / "Anomaly" / "001.JPG")]
    assert report.orphan_masks == [str(data / "Masks" / "Anomaly" / "007.png")]
    assert report.ignored == [str(data / "Images" / "Normal" / "0005.gif")]
    assert len(report.errors) == 2 and not report.ok
    assert f"cannot read image file '{data / 'Images' / 'Normal' / '0002.JPG'}'" in report.errors[0]
    assert f"mask '{data / 'Masks' / 'Anomaly' / '000.png'}' is 16x20" in report.errors[1]


def test_a_layout_error_is_reported_not_raised(dagm_root: Path) -> None:
    (dagm_root / "Class2" / "Train" / "Label" / "Labels.txt").unlink()
    report = check_data(DataSpec(dataset="dagm", root=str(dagm_root)))
    assert list(report.counts) == ["Class1", "Class10"]
    assert len(report.errors) == 1 and "Class2/Train/Label/Labels.txt' does not exist" in report.errors[0]


def test_before_a_job_the_test_split_of_every_category_is_checked(btad_root: Path) -> None:
    broken = btad_root / "03" / "test" / "ko" / "0001.bmp"
    broken.write_bytes(b"")
    data = DataSpec(dataset="btad", root=str(btad_root))
    check_before_job(data, seed=0, evaluate=False)  # pretraining reads train only
    with pytest.raises(DataError, match=rf"test split of category '03'.*cannot read image file '{broken}'"):
        check_before_job(data, seed=0, evaluate=True)


def test_abs_data_check_takes_a_root_or_a_spec_and_fails_on_errors(
    btad_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "check", str(btad_root), "--quick"]) == 0
    out = capsys.readouterr().out
    assert f"layout: btad at {btad_root}" in out and "01: train 3 normal; test 1 normal, 2 defective" in out
    (btad_root / "01" / "train" / "ok" / "0000.bmp").write_bytes(b"broken")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"kind": "evaluate", "method": {"method": "padim"},
                                "data": {"dataset": "btad", "root": str(btad_root)}}))
    assert main(["data", "check", str(spec), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["field"] == "data" and not report["ok"] and "0000.bmp" in report["errors"][0]
