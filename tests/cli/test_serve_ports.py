"""`abs serve` refuses a Ray port that `ray start` cannot use, with one line, before starting anything."""

from __future__ import annotations

import pytest

from cli.main import main as abs_main


@pytest.mark.parametrize(
    "flag, port", [("--gcs-port", 15000), ("--dashboard-port", 10002), ("--gcs-port", 19999)]
)
def test_a_ray_port_inside_rays_worker_port_range_is_refused_naming_it(
    flag, port, capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("AB_DATA_DIR", str(tmp_path))
    assert abs_main(["serve", flag, str(port)]) == 2
    err = capsys.readouterr().err
    assert f"{flag} {port} lies in Ray's worker-port range 10002-19999" in err
    assert "Traceback" not in err and not (tmp_path / "logs").exists()  # no Ray was started
