"""Edges of the request surface: integers bounded to what their columns hold (422 naming the parameter),
and bodies that do not parse (400 in the app's error envelope, documented)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.docs import FULL_SCHEMA_URL

INT_MAX = 2**31 - 1


@pytest.fixture
def job_id(client: TestClient, alice, spec_body) -> str:
    job = client.post("/v1/jobs", json=spec_body, headers=alice).json()["id"]
    assert client.post(f"/v1/jobs/{job}/cancel", headers=alice).json()["state"] == "cancelled"
    return str(job)


def problem_of(response, parameter: str) -> str:
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert problem.startswith(f"{parameter}: "), problem
    return str(problem)


@pytest.mark.parametrize("artifact_id", [2**63, 2**64, INT_MAX + 1, 0])
def test_an_artifact_id_its_column_cannot_hold_is_a_422_naming_it(client, alice, job_id, artifact_id):
    response = client.get(f"/v1/jobs/{job_id}/artifacts/{artifact_id}/download", headers=alice)
    problem_of(response, "path.artifact_id")


def test_the_largest_artifact_id_is_looked_up(client, alice, job_id):
    response = client.get(f"/v1/jobs/{job_id}/artifacts/{INT_MAX}/download", headers=alice)
    assert response.status_code == 404 and response.json()["type"] == "NotFoundError"


def test_an_event_cursor_past_the_seq_column_is_a_422_naming_it(client, alice, job_id):
    after = {"after": INT_MAX + 1}
    problem_of(client.get(f"/v1/jobs/{job_id}/events", params=after, headers=alice), "query.after")
    stream = f"/v1/jobs/{job_id}/stream"
    problem_of(client.get(stream, params=after, headers=alice), "query.after")
    problem_of(client.get(stream, headers={**alice, "Last-Event-ID": str(2**31)}), "header.last-event-id")


def test_the_largest_event_cursor_reads_an_empty_page_and_an_ended_stream(client, alice, job_id):
    page = client.get(f"/v1/jobs/{job_id}/events", params={"after": INT_MAX}, headers=alice)
    assert page.status_code == 200 and page.json()["items"] == []
    stream = client.get(f"/v1/jobs/{job_id}/stream", headers={**alice, "Last-Event-ID": str(INT_MAX)})
    assert stream.status_code == 200 and "event: end" in stream.text


@pytest.mark.parametrize(
    "body",
    [b'{"spec": "\xc3\x28"}', b'{"spec": "caf\xe9"}', b"[" * 30_000 + b"]" * 30_000],
    ids=["bad-utf8", "latin1", "nested-30k"],
)
def test_a_body_that_does_not_parse_is_a_400_in_the_error_envelope(client, alice, body):
    headers = {**alice, "Content-Type": "application/json"}
    response = client.post("/v1/jobs", content=body, headers=headers)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "MalformedBodyError" and error["problems"][0].startswith("<body>: not a JSON")


def test_unparsable_bodies_and_unknown_paths_are_documented_or_enveloped(client, alice):
    schema = client.get(FULL_SCHEMA_URL).json()
    assert "400" in schema["paths"]["/v1/jobs"]["post"]["responses"]
    assert "400" in schema["paths"]["/v1/internal/jobs/{job_id}/result"]["post"]["responses"]
    missing = client.get("/v1/no-such-route", headers=alice)
    assert missing.status_code == 404 and missing.json()["type"] == "NotFoundError"
    wrong = client.delete("/v1/jobs", headers=alice)
    assert wrong.status_code == 405 and wrong.json()["type"] == "MethodNotAllowedError"
