"""The internal worker endpoints: a job-scoped token drives one attempt from claim to result and artifacts."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from services.db import utcnow
from services.plane import ControlPlane


def claim(client: TestClient, plane: ControlPlane, alice, spec_body) -> tuple[str, dict[str, str]]:
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    (claimed,) = plane.queue.claim("node-1", lease_seconds=1)
    return job_id, {"Authorization": f"Bearer {claimed.worker_token}"}


def test_a_worker_runs_an_attempt_over_http_and_the_user_downloads_its_artifact(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    job_id, worker = claim(client, plane, alice, spec_body)
    base = f"/v1/internal/jobs/{job_id}"
    job = client.get(base, headers=worker).json()
    assert (
        job["attempt"] == 1 and job["spec"] == spec_body["spec"] | job["spec"] and not job["cancel_requested"]
    )
    progress = {"kind": "progress", "data": {"epoch": 0, "step": 5, "metrics": {"loss": 0.5}}}
    assert client.post(f"{base}/events", json=progress, headers=worker).json() == {"seq": 3}
    beat = client.post(f"{base}/heartbeat", json={"lease_seconds": 120}, headers=worker).json()
    assert beat["cancel_requested"] is False
    checkpoint = plane.workers.job_dir(job_id) / "checkpoints" / "backbone.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"weights")
    artifact = {"name": "backbone", "kind": "checkpoint", "path": "checkpoints/backbone.pt"}
    registered = client.post(f"{base}/artifacts", json=artifact, headers=worker)
    assert registered.status_code == 201 and registered.json()["size_bytes"] == 7
    done = client.post(f"{base}/result", json={"state": "succeeded", "result": {"top1": 0.9}}, headers=worker)
    assert done.json()["state"] == "succeeded"

    polled = client.get(f"/v1/jobs/{job_id}", headers=alice).json()
    assert polled["result"] == {"top1": 0.9} and polled["progress"]["step"] == 5
    (listed,) = client.get(f"/v1/jobs/{job_id}/artifacts", headers=alice).json()
    download = client.get(listed["download_url"], headers=alice)
    assert download.status_code == 200 and download.content == b"weights"
    kinds = [e["kind"] for e in client.get(f"/v1/jobs/{job_id}/events", headers=alice).json()["items"]]
    assert kinds == ["state", "state", "progress", "artifact", "state"]


def test_a_user_token_is_not_a_worker_token(client: TestClient, plane: ControlPlane, alice, spec_body):
    job_id, _worker = claim(client, plane, alice, spec_body)
    assert client.get(f"/v1/internal/jobs/{job_id}", headers=alice).status_code == 401
    assert client.get(f"/v1/internal/jobs/{job_id}").status_code == 401


def test_the_token_of_an_expired_attempt_is_refused(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    job_id, stale = claim(client, plane, alice, spec_body)
    plane.queue.reap_expired(now=utcnow() + timedelta(seconds=5))
    plane.queue.claim("node-2")
    result = client.post(f"/v1/internal/jobs/{job_id}/result", json={"state": "succeeded"}, headers=stale)
    assert result.status_code == 401
    assert client.get(f"/v1/jobs/{job_id}", headers=alice).json()["state"] == "running"


def test_writes_after_the_result_are_conflicts(client: TestClient, plane: ControlPlane, alice, spec_body):
    job_id, worker = claim(client, plane, alice, spec_body)
    base = f"/v1/internal/jobs/{job_id}"
    client.post(f"{base}/result", json={"state": "failed", "error": "diverged"}, headers=worker)
    again = client.post(f"{base}/result", json={"state": "succeeded"}, headers=worker)
    late = client.post(f"{base}/events", json={"kind": "log", "data": {"message": "hi"}}, headers=worker)
    assert again.status_code == late.status_code == 409 and "terminal" in again.json()["detail"]


def test_malformed_worker_events_are_422(client: TestClient, plane: ControlPlane, alice, spec_body):
    job_id, worker = claim(client, plane, alice, spec_body)
    base = f"/v1/internal/jobs/{job_id}/events"
    state = client.post(base, json={"kind": "state", "data": {"state": "succeeded"}}, headers=worker)
    bad_progress = client.post(base, json={"kind": "progress", "data": {"step": -1}}, headers=worker)
    assert state.status_code == bad_progress.status_code == 422
    assert any(p.startswith("progress.data.step") for p in bad_progress.json()["problems"])


def test_an_artifact_outside_the_storage_root_is_422(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    job_id, worker = claim(client, plane, alice, spec_body)
    outside = {"name": "passwd", "path": "/etc/passwd"}
    response = client.post(f"/v1/internal/jobs/{job_id}/artifacts", json=outside, headers=worker)
    assert response.status_code == 422 and "outside the storage root" in response.json()["detail"]


def test_a_cancel_reaches_the_worker_through_its_heartbeat(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    job_id, worker = claim(client, plane, alice, spec_body)
    client.post(f"/v1/jobs/{job_id}/cancel", headers=alice)
    beat = client.post(f"/v1/internal/jobs/{job_id}/heartbeat", json={}, headers=worker).json()
    assert beat["cancel_requested"] is True
    done = client.post(f"/v1/internal/jobs/{job_id}/result", json={"state": "cancelled"}, headers=worker)
    assert done.json()["state"] == "cancelled"
