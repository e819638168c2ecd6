"""`/v1/jobs/{id}/stream`: Server-Sent Events that resume from Last-Event-ID without gaps or repeats."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from services.plane import ControlPlane
from services.testing import run_job_in_background


def sse_messages(response, stop_after: int | None = None) -> list[dict[str, Any]]:
    """Parse an SSE body into messages {id, event, data}; comments (pings) are skipped."""
    messages, current = [], {}
    for line in response.iter_lines():
        if line == "":
            if current:
                messages.append(current)
                if stop_after is not None and len(messages) >= stop_after:
                    break
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            current[field] = json.loads(value) if field == "data" else value
    return messages


def test_the_stream_delivers_every_event_then_ends(client: TestClient, plane: ControlPlane, alice, spec_body):
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    worker = run_job_in_background(plane, job_id, steps=5)
    with client.stream("GET", f"/v1/jobs/{job_id}/stream", headers=alice) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = sse_messages(response)
    worker.join()
    assert messages[0] == {"retry": "3000"}
    events = [m for m in messages if "id" in m]
    assert [int(m["id"]) for m in events] == list(range(1, 9))
    assert [m["event"] for m in events] == ["state", "state"] + ["progress"] * 5 + ["state"]
    assert events[-1]["data"]["data"]["state"] == "succeeded" and messages[-1]["event"] == "end"


def test_reconnecting_with_last_event_id_resumes_without_gaps_or_repeats(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    worker = run_job_in_background(plane, job_id, steps=6)
    with client.stream("GET", f"/v1/jobs/{job_id}/stream", headers=alice) as response:
        first = [m for m in sse_messages(response, stop_after=4) if "id" in m]
    resume = {**alice, "Last-Event-ID": first[-1]["id"]}
    with client.stream("GET", f"/v1/jobs/{job_id}/stream", headers=resume) as response:
        rest = [m for m in sse_messages(response) if "id" in m]
    worker.join()
    assert [int(m["id"]) for m in first + rest] == list(range(1, 10))


def test_the_after_query_parameter_works_like_last_event_id(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    client.post(f"/v1/jobs/{job_id}/cancel", headers=alice)
    with client.stream("GET", f"/v1/jobs/{job_id}/stream?after=1", headers=alice) as response:
        events = [m for m in sse_messages(response) if "id" in m]
    assert [(m["id"], m["data"]["data"]["state"]) for m in events] == [("2", "cancelled")]


def test_event_history_pages_by_seq(client: TestClient, plane: ControlPlane, alice, spec_body):
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    run_job_in_background(plane, job_id, steps=4).join()
    first = client.get(f"/v1/jobs/{job_id}/events?limit=3", headers=alice).json()
    rest = client.get(f"/v1/jobs/{job_id}/events?after={first['next_cursor']}", headers=alice).json()
    assert [e["seq"] for e in first["items"] + rest["items"]] == list(range(1, 8)) and rest[
        "next_cursor"
    ] is None


def test_a_request_with_last_event_id_gets_only_the_later_events(
    client: TestClient, plane: ControlPlane, alice, spec_body
):
    job_id = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    run_job_in_background(plane, job_id, steps=5).join()  # 8 events: queued, running, 5 progress, succeeded
    resume = {**alice, "Last-Event-ID": "5"}
    with client.stream("GET", f"/v1/jobs/{job_id}/stream", headers=resume) as response:
        messages = sse_messages(response)
    assert [(m["id"], m["event"]) for m in messages if "id" in m] == [
        ("6", "progress"), ("7", "progress"), ("8", "state")
    ]
    assert messages[-1] == {"event": "end", "data": {"reason": "the job reached a terminal state"}}


def test_a_quiet_stream_is_kept_alive_by_ping_comments(
    serving, settings, plane: ControlPlane, alice, spec_body
):
    quick = settings.model_copy(update={"sse_keepalive_seconds": 0.2})
    app = create_app(quick, ControlPlane.build(quick, db=plane.db, bus=plane.bus))
    with serving(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        job_id = http.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]  # queued: nothing happens
        lines = []
        with http.stream("GET", f"/v1/jobs/{job_id}/stream", headers=alice) as response:
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith(":"):
                    break
    assert lines[:4] == ["retry: 3000", "", "id: 1", "event: state"] and lines[4].startswith("data: {")
    assert lines[5:] == ["", ": ping"]
