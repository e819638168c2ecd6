"""A sweep trial's own failures: the user's fail its child job; Ray's (its driver, controller or workers
gone) leave the child running, for the sweep's driver to close or a restored driver to carry on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from ray.exceptions import ActorDiedError
from ray.train import WorkerGroupError

import workers.trial
from workers.trial import run_trial

TRIAL = {"kind": "pretrain", "method": {"method": "simclr"}, "data": {"dataset": "image_folder", "root": "/"}}
SWEEP = {
    "kind": "sweep",
    "trial": TRIAL,
    "space": {"method.temperature": {"grid": [0.2]}},
}


class RecordingApi:
    job_id = "sweep"

    def __init__(self) -> None:
        self.finished: list[tuple[str, str | None]] = []

    def open_child(self, key: str, spec: dict[str, Any], params: Any = None) -> dict[str, Any]:
        return {"id": "trial-job", "state": "running", "result": None}

    def for_job(self, job_id: str) -> RecordingApi:
        return self

    def finish(self, state: str, result: Any = None, error: str | None = None) -> None:
        self.finished.append((state, error))


def run_failing(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> RecordingApi:
    api = RecordingApi()
    monkeypatch.setattr(workers.trial.WorkerApi, "from_env", classmethod(lambda cls, job_id: api))
    monkeypatch.setattr(workers.trial.tune, "get_context", lambda: SimpleNamespace(get_trial_id=lambda: "t1"))

    def fit_stage(*args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(workers.trial, "fit_stage", fit_stage)
    with pytest.raises(type(error)):
        run_trial({"params": {"method.temperature": 0.2}}, SWEEP, "sweep", "/runs")
    return api


@pytest.mark.parametrize(
    "error",
    [ActorDiedError(), WorkerGroupError("a worker was lost", {0: ActorDiedError()}), SystemExit(1)],
    ids=["actor died", "train workers lost", "driver stopped"],
)
def test_a_trial_ray_lost_leaves_its_child_running(monkeypatch: pytest.MonkeyPatch, error: BaseException):
    assert run_failing(monkeypatch, error).finished == []


def test_a_trial_whose_code_raised_fails_its_child_with_the_message(monkeypatch: pytest.MonkeyPatch):
    ((state, error),) = run_failing(monkeypatch, ValueError("no temperature")).finished
    assert state == "failed" and error.startswith("ValueError: no temperature")
