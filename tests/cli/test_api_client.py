"""The Python client `cli.api.Client`: its documented example, waits, and a stream that survives drops."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import cli.api
from cli.api import Client, ClientError
from cli.embedded import serving_in_thread
from services.ray_head import free_port
from tests.cli.conftest import Served


def example_code() -> str:
    """The indented block after `Example ...::` in cli.api's docstring."""
    doc = cli.api.__doc__ or ""
    block = doc.split("::\n", 1)[1]
    return "\n".join(line[4:] for line in block.splitlines() if line.startswith("    ") or not line.strip())


def work_the_next_job(served: Served, steps: int) -> threading.Thread:
    """A fake worker: waits for a queued job, runs it (progress, one artifact), then succeeds."""

    def work() -> None:
        deadline = time.monotonic() + 20
        while not served.plane.queue.queued() and time.monotonic() < deadline:
            time.sleep(0.05)
        (claim,) = served.plane.queue.claim("w")
        lease = served.plane.workers.authenticate(claim.job_id, claim.worker_token)
        for step in range(1, steps + 1):
            time.sleep(0.05)
            served.plane.workers.post_event(lease, "progress", {"step": step, "total_steps": steps})
        picture = served.plane.workers.job_dir(claim.job_id) / "curves.png"
        picture.parent.mkdir(parents=True, exist_ok=True)
        picture.write_bytes(b"\x89PNG pretend")
        served.plane.workers.register_artifact(lease, "curves.png", "picture", str(picture))
        served.plane.workers.finish(lease, "succeeded", result={"steps": steps})

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_the_documented_example_submits_streams_waits_and_downloads(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    worker = work_the_next_job(served, steps=3)
    scope: dict[str, Any] = {"url": served.url, "token": served.token, "spec": served.spec(name="doc")}
    exec(compile(example_code(), "cli.api example", "exec"), scope)
    worker.join(timeout=10)
    printed = [line.split(" ", 2) for line in capsys.readouterr().out.splitlines()]
    assert [int(seq) for seq, _, _ in printed] == list(range(1, len(printed) + 1))
    kinds = [kind for _, kind, _ in printed]
    assert kinds[:2] == ["state", "state"] and kinds.count("progress") == 3 and "artifact" in kinds
    assert "'succeeded'" in printed[-1][2]
    assert scope["job"]["state"] == "succeeded" and scope["job"]["result"] == {"steps": 3}
    assert scope["saved"] == tmp_path / "downloads" / "curves.png"
    assert scope["saved"].read_bytes() == b"\x89PNG pretend"
    assert scope["page"]["items"] == []


def test_wait_gives_up_after_its_timeout_naming_the_state(served: Served):
    job_id = served.submit()
    with Client(served.url, served.token) as client, pytest.raises(ClientError, match="still queued after"):
        client.wait(job_id, timeout=0.3, poll=0.05)


def test_an_error_of_the_api_names_the_status_and_the_reason(served: Served):
    with Client(served.url, "not-a-token") as client, pytest.raises(ClientError) as raised:
        client.job("some-job")
    assert raised.value.status == 401 and "GET /v1/jobs/some-job: 401" in str(raised.value)


def frame(seq: int, kind: str, data: dict[str, Any]) -> bytes:
    event = {"seq": seq, "attempt": 1, "kind": kind, "data": data, "created_at": "2026-01-01T00:00:00Z"}
    return f"id: {seq}\nevent: {kind}\ndata: {json.dumps(event)}\n\n".encode()


async def lifespan(receive: Any, send: Any) -> None:
    """The ASGI lifespan handshake of the raw test servers below: start, then wait for shutdown."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


def dropping_stream(events: list[bytes], drop_after: int, abort: bool, seen: list[str | None]) -> Any:
    """An SSE server honouring Last-Event-ID that, on its first connection, drops after `drop_after`
    events: by aborting the connection mid-body (`abort`), or by ending the response early."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        last = dict(scope["headers"]).get(b"last-event-id")
        seen.append(last.decode() if last else None)
        start = int(last) if last else 0
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"retry: 100\n\n: ping\n\n", "more_body": True})
        for seq in range(start + 1, len(events) + 1):
            if len(seen) == 1 and seq > drop_after:
                if abort:
                    raise ConnectionAbortedError("the test server drops the connection")
                break
            await send({"type": "http.response.body", "body": events[seq - 1], "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


@pytest.mark.parametrize("abort", [True, False], ids=["connection-aborted", "response-ended-early"])
def test_the_stream_resumes_after_a_drop_with_no_event_lost_or_repeated(abort: bool):
    events = [frame(1, "state", {"state": "queued"}), frame(2, "state", {"state": "running"})]
    events += [frame(seq, "progress", {"step": seq - 2}) for seq in range(3, 7)]
    events += [frame(7, "state", {"state": "succeeded"})]
    seen: list[str | None] = []
    with serving_in_thread(dropping_stream(events, 4, abort, seen), port=free_port()) as base:
        with Client(base, "token") as client:
            received = list(client.stream("job-1"))
    assert [event["seq"] for event in received] == [1, 2, 3, 4, 5, 6, 7]
    assert [event["data"].get("step") for event in received[2:6]] == [1, 2, 3, 4]
    assert seen == [None, "4"]  # the second connection asked for what came after event 4


def test_a_stream_that_keeps_dropping_gives_up_naming_the_last_event(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(cli.api, "RECONNECT_PAUSE_SECONDS", 0.01)
    events = [frame(1, "state", {"state": "queued"})]
    seen: list[str | None] = []
    app = dropping_stream(events, 1, False, seen)  # every later connection sends nothing new
    with serving_in_thread(app, port=free_port()) as base, Client(base, "token") as client:
        with pytest.raises(ClientError, match=re.escape("stream of job-1 dropped 6 times after event 1")):
            list(client.stream("job-1"))
    assert seen == [None] + ["1"] * 5


def flaky_job_api(failures: int, answered: list[str]) -> Any:
    """An API whose first `failures` answers to GET /v1/jobs/job-1 break off mid-body (a reset connection);
    the later ones say the job succeeded."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        body = json.dumps({"id": "job-1", "state": "succeeded"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if len(answered) < failures:
            answered.append("dropped")
            await send({"type": "http.response.body", "body": body[:5], "more_body": True})
            raise ConnectionResetError("the test server drops the connection")
        answered.append("answered")
        await send({"type": "http.response.body", "body": body})

    return app


def test_wait_rides_out_dropped_connections_while_polling():
    answered: list[str] = []
    with serving_in_thread(flaky_job_api(3, answered), port=free_port()) as base, Client(base, "t") as client:
        job = client.wait("job-1", poll=0.01)
    assert job["state"] == "succeeded" and answered == ["dropped"] * 3 + ["answered"]


def test_wait_gives_up_on_an_api_that_stays_unreachable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(cli.api, "UNREACHABLE_SECONDS", 0.3)
    answered: list[str] = []
    app = flaky_job_api(10**6, answered)  # never answers
    with serving_in_thread(app, port=free_port()) as base, Client(base, "t") as client:
        with pytest.raises(ClientError, match=r"cannot reach the API .* after 0.3 s of retries") as raised:
            client.wait("job-1", poll=0.01)
    assert raised.value.status is None and len(answered) > 1 and "answered" not in answered


def test_wait_does_not_retry_a_refusal_of_the_api(served: Served):
    with Client(served.url, "not-a-token") as client, pytest.raises(ClientError) as raised:
        client.wait("some-job", poll=0.01)
    assert raised.value.status == 401
