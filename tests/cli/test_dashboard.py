"""`abs dashboard`: the Ray dashboard's URL, the token (kept by `abs serve` in a file only its owner reads),
a `ray get-auth-token` line that prints it, and whether the dashboard takes it."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main as abs_main
from services.ray_head import kept_token, token_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_kept_token_is_readable_by_its_owner_only_and_outlives_restarts(tmp_path: Path):
    old_umask = os.umask(0o022)
    try:
        path = token_path(tmp_path / "home")
        token = kept_token(path)
        assert mode(path) == 0o600 and len(token) == 32
        path.chmod(0o644)  # loosened by hand, or an older version's file
        assert kept_token(path) == token and mode(path) == 0o600
    finally:
        os.umask(old_umask)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AB_RAY_AUTH_TOKEN", raising=False)
    return tmp_path


def test_abs_dashboard_prints_the_url_the_kept_token_and_a_ray_get_auth_token_line_that_works(
    ray_head, data_dir: Path, capsys
):
    token_path(data_dir).write_text(ray_head.token + "\n")
    assert abs_main(["dashboard", "--url", ray_head.dashboard_url]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"Ray dashboard\s+{ray_head.dashboard_url}\s+\(up, \d+ Ray jobs\)", out)
    assert f"token           {ray_head.token}   (from {token_path(data_dir)})" in out
    hint = re.search(r"as: (RAY_AUTH_TOKEN_PATH=(\S+) ray get-auth-token)\)", out)
    assert hint and hint[2] == str(token_path(data_dir))
    env = {key: value for key, value in os.environ.items() if key != "RAY_AUTH_TOKEN"}
    ray = Path(sys.executable).parent / "ray"
    printed = subprocess.run(
        [str(ray), "get-auth-token"], env=env | {"RAY_AUTH_TOKEN_PATH": hint[2]},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert printed.stdout.strip() == ray_head.token, printed.stderr


def test_abs_dashboard_says_when_the_dashboard_refuses_the_token(
    ray_head, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.setenv("AB_RAY_AUTH_TOKEN", "not-the-token")
    assert abs_main(["dashboard", "--url", ray_head.dashboard_url]) == 1
    out = capsys.readouterr().out
    assert "NOT ANSWERING" in out and "refused the token" in out and "(from AB_RAY_AUTH_TOKEN)" in out
    assert abs_main(["dashboard", "--print-token"]) == 0
    assert capsys.readouterr().out == "not-the-token\n"


def test_abs_dashboard_without_any_token_names_where_it_looked(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(data_dir))  # no ~/.ray/auth_token
    assert abs_main(["dashboard"]) == 2
    assert f"{token_path(data_dir)} (written by `abs serve`) does not exist" in capsys.readouterr().err
