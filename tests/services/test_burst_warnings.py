"""A method's warning in a report (e.g. SimSiam's collapse) becomes a warning-level log event of the job."""

from __future__ import annotations

from pathlib import Path

from ab_core.specs import JobSpec
from services.burst import BurstWorker
from services.plane import ControlPlane
from services.records import Principal

ALICE = Principal("alice")


def collapsing_run(spec: JobSpec, out_dir: Path, report) -> dict:
    report({"step": 1, "total_steps": 2, "loss": -0.9, "collapsed": False})
    report({"step": 2, "total_steps": 2, "collapsed": True, "warning": "representation collapse"})
    return {"steps": 2, "collapsed": True}


def test_a_reported_warning_is_posted_once_as_a_warning_log_event(plane: ControlPlane, spec: JobSpec):
    job, _ = plane.jobs.submit(ALICE, spec)
    (done,) = BurstWorker(plane, collapsing_run).work()
    assert done.result == {"steps": 2, "collapsed": True}
    events = plane.jobs.events(ALICE, job.id).items
    warnings = [e.data for e in events if e.kind == "log" and e.data.get("level") == "warning"]
    assert warnings == [{"level": "warning", "message": "representation collapse"}]
