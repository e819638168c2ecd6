"""A driver's lease watch against the real API: quiet while its attempt holds the job, a reason once the
job was queued again or claimed anew, and quiet when the API does not answer."""

from __future__ import annotations

import time
from datetime import timedelta

from ab_core.specs import parse_spec
from api.app import create_app
from cli.embedded import serving_in_thread
from services.db import utcnow
from services.plane import ControlPlane
from services.ray_head import free_port
from services.records import Principal
from services.settings import load_settings
from services.testing import sample_spec
from workers.api_client import WorkerApi
from workers.lease_watch import LeaseWatch


def test_the_watch_speaks_up_once_the_attempt_lost_its_lease_or_its_job(tmp_path):
    settings = load_settings(data_dir=tmp_path, redis_url=None, allowed_dataset_roots=[tmp_path])
    plane = ControlPlane.build(settings)
    plane.migrate()
    job, _ = plane.jobs.submit(Principal("alice"), parse_spec(sample_spec(tmp_path)))
    (claim,) = plane.queue.claim("dispatcher", lease_seconds=3600)
    port = free_port()
    with serving_in_thread(create_app(settings, plane), port=port) as url:
        reasons: list[str] = []
        watch = LeaseWatch(WorkerApi(url, job.id, claim.worker_token), claim.attempt, 0.05, reasons.append)
        assert watch.lost() is None
        watch.start()
        time.sleep(0.3)
        assert reasons == []  # still the live attempt

        assert plane.queue.reap_expired(now=utcnow() + timedelta(hours=2)).requeued == [(job.id, 1)]
        watch.join(timeout=10)
        assert reasons == [f"job {job.id} was queued again: attempt 1's lease expired"]

        plane.queue.claim("dispatcher")  # attempt 2: attempt 1's token is no longer accepted
        assert "claimed again" in (watch.lost() or "")
    assert watch.lost() is None  # the API is gone: no reason to stop training
    plane.close()
