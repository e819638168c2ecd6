"""Telling a user's failure (bad data, unloadable weights, a crash in a method) from the infrastructure's,
and posting it.

Ray 2.60 unwraps `UserExceptionWithTraceback` before anyone sees a worker's error, and the traceback goes
with the wrapper. So `workers.train_fn` raises every exception of user code as a `UserCodeError` carrying
its type, message and traceback; `workers.failure_policy` makes Ray Train give up at once on one, and
the driver posts it as the job's final error.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any

from workers.api_client import WorkerApi

LOG_TAIL_LINES = 40
MAX_WORKER_RESTARTS = int(os.environ.get("AB_MAX_WORKER_RESTARTS", "2"))  # Ray Train's, within an attempt


class UserCodeError(Exception):
    """An exception raised by user code inside a Ray Train worker; picklable (plain args)."""

    def __init__(self, kind: str, message: str, trace: str):
        super().__init__(kind, message, trace)
        self.kind, self.message, self.trace = kind, message, trace

    @classmethod
    def of(cls, error: BaseException) -> UserCodeError:
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return cls(type(error).__name__, str(error), trace)

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class UserFailure:
    """What the job's error shows: the exception's type and message, and its traceback."""

    kind: str
    message: str
    trace: str

    @classmethod
    def of(cls, error: BaseException, trace: str | None = None) -> UserFailure:
        if isinstance(error, UserCodeError):
            return cls(error.kind, error.message, error.trace)
        text = trace or "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return cls(type(error).__name__, str(error), text)


def user_cause(error: BaseException) -> UserFailure | None:
    """The user's failure when every failed worker raised from user code, else None (a worker lost)."""
    failures: list[Any] = list(getattr(error, "worker_failures", {}).values())
    causes = [_from_user_code(failure) for failure in failures]
    if not causes or any(cause is None for cause in causes):
        return None
    return causes[0]


def _from_user_code(failure: BaseException) -> UserFailure | None:
    from ray.train.v2._internal.exceptions import UserExceptionWithTraceback

    if isinstance(failure, UserCodeError):  # what arrives from workers.train_fn
        return UserFailure.of(failure)
    if isinstance(failure, UserExceptionWithTraceback):  # Ray versions that keep the wrapper
        return UserFailure.of(failure._base_exc, str(failure))
    return None


def is_infrastructure(error: BaseException) -> bool:
    """Ray's failure, not the user's: a Train run out of restarts for a system cause, or an actor, the
    driver or the cluster gone. Its job is not failed here: a retry or a sweep's restore carries it on."""
    from ray.exceptions import RayError
    from ray.train import TrainingFailedError

    return isinstance(error, TrainingFailedError | RayError | KeyboardInterrupt | SystemExit)


def fail_for_user(api: WorkerApi, failure: UserFailure) -> int:
    """Post the job as failed with the message and the traceback's tail; returns the exit code 1."""
    tail = "\n".join(failure.trace.rstrip().splitlines()[-LOG_TAIL_LINES:])
    message = f"{failure.kind}: {failure.message}\n\ntraceback (tail):\n{tail}"
    print(message, file=sys.stderr)
    api.finish("failed", error=message[-20_000:])
    return 1
