"""The worker's calls back to the API: an API that is down, restarting or overloaded is tried again with
backoff, a bounded number of times; a refusal (4xx) is final at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cli.embedded import serving_in_thread
from services.ray_head import free_port
from workers.api_client import ATTEMPTS, WorkerApi, WorkerApiError


class ScriptedApi:
    """A real HTTP server whose next answers are the statuses in `script` (then 200s); it counts calls."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.calls = 0
        self.app = Starlette(routes=[Route("/v1/internal/jobs/{job_id}", self.answer)])

    async def answer(self, request: Request) -> JSONResponse:
        self.calls += 1
        status = self.script.pop(0) if self.script else 200
        return JSONResponse({"call": self.calls, "job": request.path_params["job_id"]}, status_code=status)


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[ScriptedApi, str]]:
    api = ScriptedApi()
    with serving_in_thread(api.app, port=free_port()) as url:
        yield api, url


@pytest.fixture
def api(scripted: tuple[ScriptedApi, str]) -> ScriptedApi:
    scripted[0].script, scripted[0].calls = [], 0
    return scripted[0]


def client(url: str, **options: object) -> WorkerApi:
    return WorkerApi(url, "job-1", "token", **{"timeout": 5, "backoff": 0.01, **options})  # type: ignore[arg-type]


def test_server_errors_and_429_are_tried_again_until_the_api_answers(api, scripted):
    api.script = [503, 429, 500]
    assert client(scripted[1]).job() == {"call": 4, "job": "job-1"} and api.calls == 4


def test_a_refusal_is_not_tried_again(api, scripted):
    for status in (400, 401, 404, 409, 422):
        api.script, api.calls = [status], 0
        with pytest.raises(WorkerApiError) as refused:
            client(scripted[1]).job()
        assert refused.value.status == status and api.calls == 1
        assert f"answered {status}" in str(refused.value)


def test_retries_are_bounded_and_the_last_error_is_raised(api, scripted):
    api.script = [502] * (ATTEMPTS + 1)
    with pytest.raises(WorkerApiError) as failed:
        client(scripted[1]).job()
    assert failed.value.status == 502 and api.calls == ATTEMPTS


def test_without_retry_one_server_error_is_final(api, scripted):
    api.script = [503]
    with pytest.raises(WorkerApiError):
        client(scripted[1], retry=False).job()
    assert api.calls == 1


def test_the_pauses_between_tries_grow(api, scripted):
    api.script = [503, 503, 503]
    started = time.monotonic()
    client(scripted[1], backoff=0.2).job()
    assert time.monotonic() - started >= 0.2 + 0.4 + 0.8  # 1x, 2x, 4x the first pause


def test_an_api_that_comes_up_late_is_reached_and_one_that_never_does_is_named():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(WorkerApiError, match=f"GET {url}/v1/internal/jobs/job-1 failed") as down:
        client(url).job()
    assert down.value.status is None and down.value.transient
    late = ScriptedApi()
    answers: list[dict[str, object]] = []
    caller = threading.Thread(target=lambda: answers.append(client(url, backoff=0.3).job()))
    caller.start()
    time.sleep(0.5)  # the first tries find nothing listening
    with serving_in_thread(late.app, port=port):
        caller.join(timeout=30)
    assert answers == [{"call": 1, "job": "job-1"}]
