"""`/v1/jobs`: submit, idempotency, bad input (422, 413), auth (401), ownership (404), listing, cancel."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from services.plane import ControlPlane


def test_submit_returns_201_with_location_and_the_queued_job(client: TestClient, alice, spec_body):
    response = client.post("/v1/jobs", json={**spec_body, "priority": 7}, headers=alice)
    assert response.status_code == 201, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert (job["state"], job["attempt"], job["priority"], job["owner"]) == ("queued", 0, 7, "alice")
    polled = client.get(f"/v1/jobs/{job['id']}", headers=alice).json()
    assert polled["id"] == job["id"] and polled["spec"]["data"] == job["spec"]["data"]
    assert polled["progress"] is None and polled["location"] == {"worker": None, "dashboard_url": None}


def test_the_same_idempotency_key_returns_the_first_job_with_200(client: TestClient, alice, spec_body):
    headers = {**alice, "Idempotency-Key": "nightly-42"}
    first = client.post("/v1/jobs", json=spec_body, headers=headers)
    again = client.post("/v1/jobs", json=spec_body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    changed = {"spec": {**spec_body["spec"], "seed": 99}}
    conflict = client.post("/v1/jobs", json=changed, headers=headers)
    assert conflict.status_code == 409 and conflict.json()["type"] == "IdempotencyConflictError"


def test_an_invalid_spec_is_a_422_naming_each_bad_field(client: TestClient, alice, spec_body):
    spec = {**spec_body["spec"], "optim": {"lr": -1}, "data": {"dataset": "image_folder"}}
    response = client.post("/v1/jobs", json={"spec": spec, "priority": "high"}, headers=alice)
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert any(p.startswith("spec.data.root: Field required") for p in problems)
    assert any(p.startswith("spec.optim.lr:") for p in problems)
    assert any(p.startswith("priority:") for p in problems)


def test_a_dataset_outside_the_allowed_roots_is_a_422_naming_data_root(
    client: TestClient, alice, spec_body, settings
):
    spec = {**spec_body["spec"], "data": {**spec_body["spec"]["data"], "root": "/etc/passwd"}}
    response = client.post("/v1/jobs", json={"spec": spec}, headers=alice)
    body = response.json()
    assert response.status_code == 422 and body["type"] == "SpecRejectedError"
    assert body["problems"][0].startswith("data.root: '/etc/passwd'")
    assert str(settings.data_dir / "datasets") in body["problems"][0]


def test_an_oversized_body_is_a_413_with_or_without_content_length(client: TestClient, alice, spec_body):
    huge = {**spec_body, "padding": "x" * 70_000}
    assert client.post("/v1/jobs", json=huge, headers=alice).status_code == 413

    def chunks():
        for _ in range(100):
            yield b"x" * 1000

    streamed = client.post(
        "/v1/jobs", content=chunks(), headers={**alice, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413 and streamed.json()["type"] == "PayloadTooLargeError"


def test_every_job_endpoint_needs_a_valid_token(client: TestClient, tokens, spec_body):
    job_id = client.post("/v1/jobs", json=spec_body, headers=tokens["alice"]).json()["id"]
    job = f"/v1/jobs/{job_id}"
    calls = [("POST", "/v1/jobs"), ("GET", "/v1/jobs"), ("GET", job), ("POST", f"{job}/cancel"),
             ("GET", f"{job}/events"), ("GET", f"{job}/stream"), ("GET", f"{job}/artifacts"),
             ("GET", "/v1/methods"), ("GET", "/metrics")]  # fmt: skip
    for method, url in calls:
        for headers in ({}, {"Authorization": "Bearer abs_wrong"}):
            response = client.request(
                method, url, headers=headers, json=spec_body if method == "POST" else None
            )
            assert response.status_code == 401, (method, url, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
    assert client.get(f"/v1/jobs/{job_id}", headers=tokens["alice"]).json()["state"] == "queued"


def test_a_job_of_another_owner_is_a_404_everywhere_but_an_admin_sees_it(
    client: TestClient, tokens, spec_body
):
    job_id = client.post("/v1/jobs", json=spec_body, headers=tokens["alice"]).json()["id"]
    for method, path in [("GET", ""), ("POST", "/cancel"), ("GET", "/events"), ("GET", "/stream"),
                         ("GET", "/artifacts")]:  # fmt: skip
        assert client.request(method, f"/v1/jobs/{job_id}{path}", headers=tokens["bob"]).status_code == 404
    assert client.get("/v1/jobs", headers=tokens["bob"]).json()["items"] == []
    assert client.get(f"/v1/jobs/{job_id}", headers=tokens["admin"]).json()["owner"] == "alice"
    assert [j["id"] for j in client.get("/v1/jobs?owner=alice", headers=tokens["admin"]).json()["items"]] == [
        job_id
    ]
    assert client.get("/v1/jobs?owner=alice", headers=tokens["bob"]).status_code == 403
    assert client.get(f"/v1/jobs/{job_id}", headers=tokens["alice"]).json()["state"] == "queued"


def test_unknown_job_ids_are_404(client: TestClient, alice):
    response = client.get("/v1/jobs/00000000-0000-7000-8000-000000000000", headers=alice)
    assert response.status_code == 404 and response.json()["type"] == "NotFoundError"


def test_listing_pages_with_a_cursor_and_caps_the_page_size(client: TestClient, alice, spec_body):
    ids = [client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"] for _ in range(5)]
    seen: list[str] = []
    url = "/v1/jobs?limit=2"
    while True:
        page: dict[str, Any] = client.get(url, headers=alice).json()
        seen += [job["id"] for job in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"/v1/jobs?limit=2&cursor={page['next_cursor']}"
    assert seen == ids[::-1]
    assert client.get("/v1/jobs?limit=1000", headers=alice).status_code == 422
    assert client.get("/v1/jobs?state=exploded", headers=alice).status_code == 422


def test_listing_filters_by_state_and_parent(client: TestClient, alice, spec_body):
    parent = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    child = client.post("/v1/jobs", json={**spec_body, "parent_id": parent}, headers=alice).json()["id"]
    client.post(f"/v1/jobs/{child}/cancel", headers=alice)
    by_parent = client.get(f"/v1/jobs?parent_id={parent}", headers=alice).json()["items"]
    cancelled = client.get("/v1/jobs?state=cancelled", headers=alice).json()["items"]
    assert [j["id"] for j in by_parent] == [child] == [j["id"] for j in cancelled]


def test_cancel_is_idempotent_and_a_cancelled_job_is_never_claimed(
    client: TestClient, alice, spec_body, plane
):
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    first = client.post(f"/v1/jobs/{job_id}/cancel", headers=alice)
    second = client.post(f"/v1/jobs/{job_id}/cancel", headers=alice)
    assert first.status_code == second.status_code == 200
    assert first.json()["state"] == second.json()["state"] == "cancelled"
    assert plane.queue.claim("w") == []


def test_polling_shows_attempt_progress_and_where_it_runs(
    client: TestClient, alice, spec_body, plane: ControlPlane
):
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    (claim,) = plane.queue.claim("node-7")
    lease = plane.workers.authenticate(job_id, claim.worker_token)
    plane.workers.post_event(lease, "progress", {"epoch": 1, "step": 40, "total_steps": 100,
                                                 "metrics": {"loss": 0.25}})  # fmt: skip
    job = client.get(f"/v1/jobs/{job_id}", headers=alice).json()
    assert (job["state"], job["attempt"], job["location"]["worker"]) == ("running", 1, "node-7")
    assert {k: job["progress"][k] for k in ("epoch", "step", "total_steps", "metrics")} == {
        "epoch": 1, "step": 40, "total_steps": 100, "metrics": {"loss": 0.25}}  # fmt: skip
    assert job["started_at"] is not None and job["finished_at"] is None


def test_nul_bytes_are_refused_with_422_not_a_server_error(client: TestClient, alice):
    assert client.get("/v1/jobs/%00", headers=alice).status_code == 422
    assert client.get("/v1/jobs?kind=a%00b", headers=alice).status_code == 422
