"""`GET /v1/jobs/{id}/metrics`: a finished job's progress reports as JSON or CSV, for its owner only."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from services.plane import ControlPlane


def finished_job(client: TestClient, plane: ControlPlane, alice, spec_body) -> str:
    """A job whose worker reported steps 1-3 (step 2 twice: the later report wins) and a log, then ended."""
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    (claimed,) = plane.queue.claim("node-1", lease_seconds=60)
    worker = {"Authorization": f"Bearer {claimed.worker_token}"}
    base = f"/v1/internal/jobs/{job_id}"
    reports = [(1, 2.5, {}), (2, 9.9, {}), (2, 2.0, {"collapsed": False, "warning": "low variance"}),
               (3, 1.5, {"std": 0.2})]  # fmt: skip
    for step, loss, extra in reports:
        metrics = {"loss": loss, "lr": 0.1, **extra}
        data = {"epoch": step / 4, "step": step, "total_steps": 3, "metrics": metrics}
        posted = client.post(f"{base}/events", json={"kind": "progress", "data": data}, headers=worker)
        assert posted.is_success
    client.post(f"{base}/events", json={"kind": "log", "data": {"message": "hello"}}, headers=worker)
    client.post(f"{base}/result", json={"state": "succeeded", "result": {}}, headers=worker)
    return job_id


def test_a_finished_jobs_metrics_come_back_as_json_one_row_per_step(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    job_id = finished_job(client, plane, alice, spec_body)
    response = client.get(f"/v1/jobs/{job_id}/metrics", headers=alice)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["job_id"] == job_id
    assert body["columns"] == ["step", "epoch", "loss", "lr", "std"]
    assert body["rows"] == [
        {"step": 1, "epoch": 0.25, "loss": 2.5, "lr": 0.1},
        {"step": 2, "epoch": 0.5, "loss": 2.0, "lr": 0.1},  # flags and warnings are no metrics
        {"step": 3, "epoch": 0.75, "loss": 1.5, "lr": 0.1, "std": 0.2},
    ]


def test_the_same_history_comes_as_csv_by_query_or_accept_header(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    job_id = finished_job(client, plane, alice, spec_body)
    by_query = client.get(f"/v1/jobs/{job_id}/metrics", params={"format": "csv"}, headers=alice)
    by_accept = client.get(f"/v1/jobs/{job_id}/metrics", headers={**alice, "Accept": "text/csv"})
    for response in (by_query, by_accept):
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert by_query.text == by_accept.text
    rows = list(csv.DictReader(io.StringIO(by_query.text)))
    assert [row["step"] for row in rows] == ["1", "2", "3"]
    assert [float(row["loss"]) for row in rows] == [2.5, 2.0, 1.5]
    assert rows[0]["std"] == "" and rows[2]["std"] == "0.2"


def test_another_owners_job_metrics_are_a_404(client: TestClient, plane: ControlPlane, tokens, spec_body):
    job_id = finished_job(client, plane, tokens["alice"], spec_body)
    assert client.get(f"/v1/jobs/{job_id}/metrics", headers=tokens["bob"]).status_code == 404
    assert client.get(f"/v1/jobs/{job_id}/metrics?format=csv", headers=tokens["bob"]).status_code == 404
    assert client.get(f"/v1/jobs/{job_id}/metrics", headers=tokens["admin"]).json()["rows"]
    assert client.get("/v1/jobs/no-such-job/metrics", headers=tokens["alice"]).status_code == 404
