"""A report's `warning` (e.g. a collapse) reaches the real API as a warning-level log event."""

from __future__ import annotations

from ab_core.specs import parse_spec
from api.app import create_app
from cli.embedded import serving_in_thread
from services.plane import ControlPlane
from services.ray_head import free_port
from services.records import Principal
from services.settings import load_settings
from services.testing import sample_spec
from workers.api_client import ApiProgress, WorkerApi

ALICE = Principal("alice")


def test_a_reported_warning_becomes_one_warning_log_event(tmp_path):
    settings = load_settings(data_dir=tmp_path, redis_url=None, allowed_dataset_roots=[tmp_path])
    plane = ControlPlane.build(settings)
    plane.migrate()
    job, _ = plane.jobs.submit(ALICE, parse_spec(sample_spec(tmp_path)))
    (claim,) = plane.queue.claim("dispatcher", lease_seconds=3600)
    with serving_in_thread(create_app(settings, plane), port=free_port()) as url:
        progress = ApiProgress(WorkerApi(url, job.id, claim.worker_token))
        progress({"step": 1, "loss": -0.9, "collapsed": False}, None)
        progress({"step": 2, "loss": -1.0, "collapsed": True, "warning": "representation collapse"}, None)
    events = plane.jobs.events(ALICE, job.id).items
    warnings = [e.data for e in events if e.kind == "log" and e.data.get("level") == "warning"]
    assert warnings == [{"level": "warning", "message": "representation collapse"}]
    assert [e.data["step"] for e in events if e.kind == "progress"] == [1, 2]
    plane.close()
