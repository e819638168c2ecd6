"""A driver's watch on its own attempt: once the job was queued again (the lease expired while no
dispatcher heartbeat it) or a new attempt claimed it, this attempt's driver exits, taking its Ray Train
workers with it, so two attempts of one job never train side by side."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import replace

from workers.api_client import WorkerApi, WorkerApiError

EVERY_ENV = "AB_LEASE_WATCH_SECONDS"  # set by services.dispatcher
LOST_EXIT_CODE = 3


def exit_lost(reason: str) -> None:
    print(f"stopping this attempt: {reason}", file=sys.stderr, flush=True)
    os._exit(LOST_EXIT_CODE)  # the driver's actors (the Train controller and workers) die with it


class LeaseWatch(threading.Thread):
    """Every `every` seconds, asks the API whether `attempt` still holds the job; calls `on_lost` once
    when it does not. An API that does not answer is no lost lease (the reaper runs in the API)."""

    def __init__(
        self, api: WorkerApi, attempt: int, every: float, on_lost: Callable[[str], None] = exit_lost
    ):
        super().__init__(name="lease-watch", daemon=True)
        self.api, self.attempt, self.every, self.on_lost = replace(api, retry=False), attempt, every, on_lost
        self.stopped = threading.Event()

    @classmethod
    def start_from_env(cls, api: WorkerApi, attempt: int) -> LeaseWatch | None:
        every = float(os.environ.get(EVERY_ENV) or 0)
        if every <= 0:
            return None
        watch = cls(api, attempt, every)
        watch.start()
        return watch

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            reason = self.lost()
            if reason is not None:
                self.on_lost(reason)
                return

    def lost(self) -> str | None:
        """Why this attempt no longer holds the job, or None while it does (or the API is unreachable)."""
        try:
            job = self.api.job()
        except WorkerApiError as error:
            if error.status == 401:
                return f"the API refuses attempt {self.attempt}'s token: the job was claimed again"
            return None
        if job["attempt"] != self.attempt:
            return f"attempt {job['attempt']} of the job is the live one, not {self.attempt}"
        if job["state"] == "queued":
            return f"job {job['id']} was queued again: attempt {self.attempt}'s lease expired"
        return None
