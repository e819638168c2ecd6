"""The REST client's own logic: relative paths in a spec become absolute before the server sees them."""

from __future__ import annotations

from pathlib import Path

from cli.client import absolute_paths
from cli.main import build_parser


def test_relative_data_root_and_checkpoint_weights_are_resolved_against_the_current_directory(tmp_path: Path):
    raw = {"data": {"root": "data/synth"}, "backbone": {"weights": "runs/x/checkpoint"}}
    fixed = absolute_paths(raw, tmp_path)
    assert fixed["data"]["root"] == str(tmp_path / "data" / "synth")
    assert fixed["backbone"]["weights"] == str(tmp_path / "runs" / "x" / "checkpoint")


def test_absolute_paths_and_named_weights_are_left_alone(tmp_path: Path):
    raw = {"data": {"root": "/data/mvtec"}, "backbone": {"weights": "imagenet"}, "kind": "evaluate"}
    assert absolute_paths(raw, tmp_path) == raw


def test_server_url_and_token_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AB_URL", "http://ab.example:9000")
    monkeypatch.setenv("AB_TOKEN", "secret")
    args = build_parser().parse_args(["status", "some-job"])
    assert (args.url, args.token, args.job_id) == ("http://ab.example:9000", "secret", "some-job")
