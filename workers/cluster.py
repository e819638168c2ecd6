"""Joining this service's Ray cluster from a job's driver: the address the dispatcher pinned in the job's
env, not the cluster Ray's job supervisor found through a temp dir another head may share."""

from __future__ import annotations

import os

PINNED_ADDRESS = "AB_RAY_GCS_ADDRESS"  # set by services.dispatcher (the same name there)


def connect(log_to_driver: bool = True) -> None:
    """ray.init on the pinned GCS address (when the dispatcher gave one), once per process."""
    import ray

    if ray.is_initialized():
        return
    pinned = os.environ.get(PINNED_ADDRESS)
    if pinned:
        os.environ["RAY_ADDRESS"] = pinned  # what Ray's own helpers in this process read
    ray.init(address=pinned or None, log_to_driver=log_to_driver)
