"""`abs methods` and `abs spec check` (no service), and `abs` ending quietly when its reader goes away."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ab_core import registry
from cli.main import main

CapSys = pytest.CaptureFixture[str]
REPO = Path(__file__).resolve().parents[2]


def cells(line: str) -> list[str]:
    return re.split(r" {2,}", line.strip())


def method_rows(out: str, name: str) -> dict[str, list[str]]:
    """The parameter rows of one method's table in `abs methods`, by parameter."""
    block = out.split(f"\n{name}  (", 1)[1] if not out.startswith(f"{name}  (") else out
    lines = block.split("\n\n", 1)[0].splitlines()[2:]  # the title and the header first
    return {cells(line)[0]: cells(line) for line in lines}


def test_methods_shows_each_parameters_type_choices_bounds_and_real_default(capsys: CapSys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "PydanticUndefined" not in out
    cdo = method_rows(out, "cdo")
    layers = registry.get("cdo").params.model_validate({"method": "cdo"}).layers  # a default_factory's
    assert cdo["layers"][:4] == ["layers", "list[str]", "layer1 | layer2 | layer3 | layer4, length >= 1, "
                                 "length <= 4", repr(layers)]  # fmt: skip
    assert cdo["gamma"][:4] == ["gamma", "float", ">= 0.0, <= 10.0", "2.0"]
    assert cdo["defect"][:4] == ["defect", "str", "cutpaste | blended", "cutpaste"]
    for name, entry in registry.entries().items():
        assert set(method_rows(out, name)) == set(entry.params.model_fields) - {"method"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_spec_check_names_the_file_and_the_line_of_a_yaml_error(tmp_path: Path, capsys: CapSys):
    spec = write(tmp_path, "kind: pretrain\nmethod: {method: simclr\n")
    assert main(["spec", "check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"abs: error: {spec}, line 3, column 1: not valid YAML or JSON: expected ','")
    assert "(while parsing a flow mapping at line 2, column 9)" in err


def test_spec_check_suggests_the_nearest_field_for_a_misspelt_one(tmp_path: Path, capsys: CapSys):
    spec = write(tmp_path, "kind: sweep\ntrial:\n  kind: pretrain\n"
                 "  method: {method: simclr, temprature: 0.1}\n"
                 "  data: {dataset: image_folder, rooot: /data}\n  resorces: {}\n"
                 "space: {method.temperature: {choice: [0.1, 0.5]}}\n")  # fmt: skip
    assert main(["spec", "check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}: trial.method.simclr.temprature: Extra inputs are not permitted; did you mean " \
           "'temperature'?" in err  # fmt: skip
    assert f"{spec}: trial.data.rooot: Extra inputs are not permitted; did you mean 'root'?" in err
    assert f"{spec}: trial.resorces: Extra inputs are not permitted; did you mean 'resources'?" in err
    assert f"{spec}: trial.data.root: Field required" in err


def test_spec_check_says_when_data_root_does_not_exist_here(
    tmp_path: Path, capsys: CapSys, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    text = "kind: pretrain\nmethod: {method: simclr}\ndata: {dataset: image_folder, root: images}\n"
    spec = write(tmp_path, text)
    assert main(["spec", "check", str(spec)]) == 0
    missing = f"{spec}: warning: data.root '{tmp_path / 'images'}' does not exist on this machine"
    assert missing in capsys.readouterr().err
    (tmp_path / "images").mkdir()
    assert main(["spec", "check", str(spec)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command", [["methods"], ["archs"]], ids=["large-output", "small-output"])
def test_a_closed_pipe_ends_quietly(command: list[str]):
    """`abs methods | head -1`: the reader is gone before abs writes; no BrokenPipeError traceback."""
    process = subprocess.Popen([sys.executable, "-m", "cli.main", *command], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert process.stdout is not None
    process.stdout.close()  # nobody reads: every write of abs fails with EPIPE
    _, err = process.communicate(timeout=120)
    assert err.decode() == "" and process.returncode == 141
