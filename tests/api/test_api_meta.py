"""Health, readiness, metrics, the method registry, OpenAPI, and a database that is down (503, process up)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from ab_core import registry
from api.app import create_app
from services.plane import ControlPlane, make_bus
from services.settings import load_settings


def test_health_and_readiness_need_no_token(client: TestClient):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "checks": {"database": "ok"}}


def test_the_database_being_down_is_a_503_with_a_message_and_the_process_stays_up(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path, database_url="postgresql+psycopg://postgres@127.0.0.1:1/none")
    with TestClient(create_app(settings)) as down:
        response = down.get("/v1/jobs", headers={"Authorization": "Bearer abs_anything"})
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert response.json()["type"] == "DatabaseUnavailableError"
        assert "127.0.0.1:1" in response.json()["detail"] and "retry later" in response.json()["detail"]
        ready = down.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unavailable")
        assert down.get("/healthz").status_code == 200


def test_methods_lists_the_registry_with_param_schemas_and_roles(client: TestClient, alice):
    methods = client.get("/v1/methods", headers=alice).json()
    assert [m["name"] for m in methods] == list(registry.entries())
    for method in methods:
        entry = registry.get(method["name"])
        assert method["role"] == entry.role and method["params_schema"] == entry.params.model_json_schema()


def test_metrics_count_requests_by_route_template_and_jobs_by_state(client: TestClient, alice, spec_body):
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    client.get(f"/v1/jobs/{job_id}", headers=alice)
    text = client.get("/metrics", headers=alice).text
    assert 'abs_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="200"} 1.0' in text
    assert 'abs_jobs{state="queued"} 1.0' in text and 'abs_jobs{state="running"} 0.0' in text
    assert "abs_http_request_duration_seconds_bucket" in text


def test_openapi_and_docs_are_served_without_a_token(client: TestClient):
    schema = client.get("/openapi.json").json()
    assert "/v1/jobs/{job_id}/stream" in schema["paths"] and "JobSpec" in str(schema["components"]["schemas"])
    assert client.get("/docs").status_code == 200


def test_a_redis_that_is_down_is_reported_but_does_not_make_the_api_unready(settings, plane):
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(down, ControlPlane.build(down, db=plane.db, bus=make_bus(down)))) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["redis"].startswith("unavailable")
