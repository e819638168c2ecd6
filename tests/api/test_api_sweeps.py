"""Sweeps over REST: a bad search space is a 422 before anything runs; trials are child jobs that the
sweep's worker token opens and drives, listed under `?parent=`, and that end with their sweep."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from services.plane import ControlPlane


def simclr(spec_body: dict[str, Any]) -> dict[str, Any]:
    return spec_body["spec"] | {"kind": "pretrain", "method": {"method": "simclr"}}


def sweep_body(spec_body: dict[str, Any], **rest: Any) -> dict[str, Any]:
    space = {"method.temperature": {"loguniform": [0.05, 1.0]}}
    return {"spec": {"kind": "sweep", "trial": simclr(spec_body), "space": space, "num_samples": 3} | rest}


def start_sweep(client: TestClient, plane: ControlPlane, alice, spec_body) -> tuple[str, dict[str, str]]:
    sweep_id = client.post("/v1/jobs", json=sweep_body(spec_body), headers=alice).json()["id"]
    (claimed,) = plane.queue.claim("node-1")
    return sweep_id, {"Authorization": f"Bearer {claimed.worker_token}"}


def test_a_bad_search_space_is_a_422_naming_the_path_and_nothing_is_queued(
    client: TestClient, alice, spec_body
):
    for space, expected in [
        ({"method.temprature": {"uniform": [0.1, 1.0]}}, "spec.space.method.temprature: no parameter"),
        ({"method.temperature": {"uniform": [1.0, 0.1]}}, "low must be below high"),
        ({"optim.lr": {"loguniform": [0.1, 50]}}, "50.0 is not accepted: optim.lr: Input should be less"),
        ({"optim.lr": {"normal": [0.1, 1]}}, "spec.space.optim.lr: a domain is one of"),
    ]:
        body = sweep_body(spec_body)
        body["spec"]["space"] = space
        response = client.post("/v1/jobs", json=body, headers=alice)
        assert response.status_code == 422, response.text
        assert any(expected in problem for problem in response.json()["problems"]), response.json()
    bad_metric = client.post("/v1/jobs", json=sweep_body(spec_body, metric="image_auroc"), headers=alice)
    assert "metric: 'image_auroc' is not reported by a simclr trial; accepted: loss, lr" in bad_metric.text
    assert client.get("/v1/jobs", headers=alice).json()["items"] == []


def test_a_sweep_opens_its_trials_once_each_and_drives_them_with_its_token(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    sweep_id, worker = start_sweep(client, plane, alice, spec_body)
    trial_spec = simclr(spec_body) | {"method": {"method": "simclr", "temperature": 0.2}}
    opened = {"key": "abc_00000", "spec": trial_spec, "params": {"method.temperature": 0.2}}
    first = client.post(f"/v1/internal/jobs/{sweep_id}/children", json=opened, headers=worker).json()
    again = client.post(f"/v1/internal/jobs/{sweep_id}/children", json=opened, headers=worker).json()
    assert first["id"] == again["id"] and first["state"] == "running"

    trial = f"/v1/internal/jobs/{first['id']}"
    progress = {"kind": "progress", "data": {"step": 1, "metrics": {"loss": 3.2}}}
    assert client.post(f"{trial}/events", json=progress, headers=worker).status_code == 201
    done = {"state": "succeeded", "result": {"metrics": {"loss": 3.0}}}
    assert client.post(f"{trial}/result", json=done, headers=worker).json()["state"] == "succeeded"

    (listed,) = client.get("/v1/jobs", params={"parent": sweep_id}, headers=alice).json()["items"]
    assert listed["id"] == first["id"] and listed["params"] == {"method.temperature": 0.2}
    assert listed["spec"]["method"]["temperature"] == 0.2 and listed["kind"] == "pretrain"
    assert plane.queue.queued() == []  # trials never wait in the queue


def test_a_trial_is_refused_a_token_of_another_job_and_cannot_be_cancelled_alone(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    sweep_id, worker = start_sweep(client, plane, alice, spec_body)
    _other_id, other_worker = start_sweep(client, plane, alice, spec_body)
    opened = {"key": "t0", "spec": simclr(spec_body)}
    child = client.post(f"/v1/internal/jobs/{sweep_id}/children", json=opened, headers=worker).json()
    assert client.get(f"/v1/internal/jobs/{child['id']}", headers=other_worker).status_code == 401
    refused = client.post(f"/v1/jobs/{child['id']}/cancel", headers=alice)
    assert refused.status_code == 409 and sweep_id in refused.json()["detail"]


def test_trials_still_running_end_with_their_sweep(client: TestClient, plane: ControlPlane, alice, spec_body):
    sweep_id, worker = start_sweep(client, plane, alice, spec_body)
    for key in ("t0", "t1"):
        client.post(f"/v1/internal/jobs/{sweep_id}/children", json={"key": key, "spec": simclr(spec_body)},
                    headers=worker)  # fmt: skip
    client.post(f"/v1/jobs/{sweep_id}/cancel", headers=alice)
    plane.queue.mark_cancelled(sweep_id, 1)  # what the dispatcher does once the sweep's Ray job stopped
    trials = client.get("/v1/jobs", params={"parent": sweep_id}, headers=alice).json()["items"]
    assert [t["state"] for t in trials] == ["cancelled", "cancelled"]
    events = client.get(f"/v1/jobs/{trials[0]['id']}/events", headers=alice).json()["items"]
    reason = f"its parent job {sweep_id} ended cancelled first"
    assert events[-1]["data"] == {"state": "cancelled", "reason": reason}


def test_an_invalid_trial_spec_is_a_422(client: TestClient, plane: ControlPlane, alice, spec_body):
    sweep_id, worker = start_sweep(client, plane, alice, spec_body)
    bad = {"key": "t0", "spec": simclr(spec_body) | {"optim": {"lr": -1}}}
    response = client.post(f"/v1/internal/jobs/{sweep_id}/children", json=bad, headers=worker)
    assert response.status_code == 422 and "optim.lr" in response.text
