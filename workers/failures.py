"""Telling a user's failure (bad data, a crash in a method) from the infrastructure's, and posting it."""

from __future__ import annotations

import os
import sys
from typing import Any

from workers.api_client import WorkerApi

LOG_TAIL_LINES = 40
MAX_WORKER_RESTARTS = int(os.environ.get("AB_MAX_WORKER_RESTARTS", "2"))  # Ray Train's, within an attempt


def user_cause(error: BaseException) -> tuple[BaseException, str] | None:
    """(the user's exception, its traceback) when every failed worker raised from user code, else None."""
    from ray.train.v2._internal.exceptions import UserExceptionWithTraceback

    failures: list[Any] = list(getattr(error, "worker_failures", {}).values())
    if not failures or not all(isinstance(failure, UserExceptionWithTraceback) for failure in failures):
        return None
    first = failures[0]
    return first._base_exc, str(first)


def is_infrastructure(error: BaseException) -> bool:
    """Ray's failure, not the user's: a Train run out of restarts for a system cause, or an actor, the
    driver or the cluster gone. Its job is not failed here: a retry or a sweep's restore carries it on."""
    from ray.exceptions import RayError
    from ray.train import TrainingFailedError

    return isinstance(error, TrainingFailedError | RayError | KeyboardInterrupt | SystemExit)


def fail_for_user(api: WorkerApi, error: BaseException, trace: str) -> int:
    """Post the job as failed with the message and the traceback's tail; returns the exit code 1."""
    tail = "\n".join(trace.rstrip().splitlines()[-LOG_TAIL_LINES:])
    message = f"{type(error).__name__}: {error}\n\nlog tail:\n{tail}"
    print(message, file=sys.stderr)
    api.finish("failed", error=message[-20_000:])
    return 1
