"""`/docs` and `/redoc` work with no internet (their files ship with the package), and the public schema
leaves out the worker endpoints, which keep working."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from api.docs import FULL_SCHEMA_URL
from services.plane import ControlPlane
from services.settings import load_settings
from services.testing import unavailable

CHROMIUM = "/usr/bin/chromium"
PAGES = ("/docs", "/redoc")


def offline_dom(url: str, profile: Path) -> str:
    """The page as headless Chromium renders it when every host but this one (loopback) is unreachable."""
    if not shutil.which(CHROMIUM):
        unavailable(f"{CHROMIUM} not installed (Debian's `chromium` package)")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
               "--proxy-server=127.0.0.1:9",  # a closed port: only loopback (bypassed by default) answers
               "--virtual-time-budget=10000", "--dump-dom", url]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


def test_the_docs_pages_name_no_external_url_and_their_files_are_served(client: TestClient):
    for page in PAGES:
        html = client.get(page).text
        assert re.findall(r"https?://", html) == [], page
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert len(assets) >= 2 and all(client.get(asset).status_code == 200 for asset in assets), assets


def test_the_public_schema_leaves_out_the_worker_endpoints_and_they_still_answer(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    public = client.get("/openapi.json").json()
    full = client.get(FULL_SCHEMA_URL).json()
    assert [path for path in public["paths"] if "/internal/" in path] == []
    assert not {"WorkerJobRead", "HeartbeatCreate"} & set(public["components"]["schemas"])
    assert "/v1/internal/jobs/{job_id}/heartbeat" in full["paths"]
    assert "WorkerJobRead" in full["components"]["schemas"]
    assert set(public["paths"]) < set(full["paths"]) and "JobSpec" in str(public["components"]["schemas"])
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    (claim,) = plane.queue.claim("node-1", lease_seconds=60)
    worker = {"Authorization": f"Bearer {claim.worker_token}"}
    assert client.get(f"/v1/internal/jobs/{job_id}", headers=worker).json()["attempt"] == 1


def test_swagger_ui_and_redoc_render_every_operation_with_no_network(tmp_path: Path, serving):
    settings = load_settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/ab.db", redis_url=None)
    with serving(create_app(settings)) as base_url:
        paths = set(httpx.get(f"{base_url}/openapi.json").json()["paths"])
        swagger = offline_dom(f"{base_url}/docs", tmp_path / "chromium")
        redoc = offline_dom(f"{base_url}/redoc", tmp_path / "chromium")
    assert {"/v1/jobs", "/v1/jobs/{job_id}/stream"} <= paths
    assert set(re.findall(r'data-path="([^"]+)"', swagger)) == paths  # one rendered operation block each
    assert all(f">{path}<" in redoc for path in paths) and "/v1/internal" not in swagger + redoc
