"""Pipelines: `backbone.from_job` is checked at submit, waits on its job, and resolves to its checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ab_core.specs import parse_spec
from ab_core.sweeps import parse_submitted
from services.errors import SpecRejectedError
from services.pipelines import gate, resolve_backbone
from services.placement import Demand, committed
from services.plane import ControlPlane
from services.records import Principal
from services.testing import sample_spec
from services.worker_channel import WorkerLease

ALICE, BOB = Principal("alice"), Principal("bob")


def evaluation(root: Path, from_job: str) -> dict[str, Any]:
    return {"kind": "evaluate", "method": {"method": "padim"}, "backbone": {"from_job": from_job},
            "data": {"dataset": "mvtec", "root": str(root)}}  # fmt: skip


def pretraining(plane: ControlPlane, root: Path, owner: Principal = ALICE) -> str:
    job, _ = plane.jobs.submit(owner, parse_spec(sample_spec(root, method={"method": "simclr"})))
    return job.id


def finish(plane: ControlPlane, job_id: str, result: dict[str, Any] | None = None, error: str = "") -> None:
    (claim,) = plane.queue.claim("node", job_ids=[job_id])
    if result is not None:
        plane.queue.complete(job_id, claim.attempt, result)
    else:
        plane.queue.fail(job_id, claim.attempt, error)


def test_from_job_must_name_a_visible_pretraining(plane: ControlPlane, dataset_root: Path):
    upstream = pretraining(plane, dataset_root)
    with pytest.raises(SpecRejectedError, match="backbone.from_job: no job 'nope' visible to owner 'alice'"):
        plane.jobs.submit(ALICE, parse_spec(evaluation(dataset_root, "nope")))
    with pytest.raises(SpecRejectedError, match="no job .* visible to owner 'bob'"):
        plane.jobs.submit(BOB, parse_spec(evaluation(dataset_root, upstream)))
    first, _ = plane.jobs.submit(ALICE, parse_spec(evaluation(dataset_root, upstream)))
    with pytest.raises(SpecRejectedError, match=rf"job {first.id} \(evaluate\) makes no backbone"):
        plane.jobs.submit(ALICE, parse_spec(evaluation(dataset_root, first.id)))


def test_the_gate_holds_waits_and_dooms_by_the_upstream_state(plane: ControlPlane, dataset_root: Path):
    running, done, broken = (pretraining(plane, dataset_root) for _ in range(3))
    finish(plane, done, {"checkpoint": "/runs/done/ckpt"})
    finish(plane, broken, error="DataError: no images\nmore")
    plane.queue.claim("node", job_ids=[running])
    waiting, ready, doomed = (plane.jobs.submit(ALICE, parse_spec(evaluation(dataset_root, up)))[0]
                              for up in (running, done, broken))  # fmt: skip
    with plane.db.read() as session:
        gated = gate(session, plane.queue.queued())
    assert [job.id for job in gated.ready] == [ready.id]
    assert [job.id for job in gated.waiting] == [waiting.id]
    assert [(job.id, reason) for job, reason in gated.doomed] == [
        (doomed.id, f"backbone.from_job: job {broken} failed: DataError: no images")
    ]
    with plane.db.read() as session:
        resolved = resolve_backbone(session, ready.spec)
    assert resolved["backbone"] == {"arch": "resnet18", "weights": "/runs/done/ckpt", "from_job": done}


def test_a_sweep_as_upstream_gives_its_best_trials_checkpoint(plane: ControlPlane, dataset_root: Path):
    trial = sample_spec(dataset_root, method={"method": "simclr"})
    sweep = parse_submitted({"kind": "sweep", "trial": trial, "space": {"optim.lr": {"grid": [0.1, 0.01]}}})
    sweep_job, _ = plane.jobs.submit(ALICE, sweep)
    finish(plane, sweep_job.id, {"best": {"job_id": "t1", "checkpoint": "/runs/t1/ckpt"}})
    downstream, _ = plane.jobs.submit(ALICE, parse_spec(evaluation(dataset_root, sweep_job.id)))
    with plane.db.read() as session:
        assert resolve_backbone(session, downstream.spec)["backbone"]["weights"] == "/runs/t1/ckpt"


def test_a_job_whose_children_run_holds_no_resources_itself(plane: ControlPlane, dataset_root: Path):
    trial = sample_spec(dataset_root, method={"method": "simclr"}, resources={"workers": 2})
    sweep = parse_submitted({"kind": "sweep", "trial": trial, "space": {"optim.lr": {"grid": [0.1, 0.01]}}})
    sweep_job, _ = plane.jobs.submit(ALICE, sweep)
    assert Demand.of_spec(sweep_job.spec) == Demand(cpus=2.0)  # room for one trial to start
    plane.queue.claim("node")
    assert committed(plane.queue.running()) == Demand(cpus=2.0)
    lease = WorkerLease(sweep_job.id, 1, "node")
    plane.workers.open_child(lease, "t0", trial, None)
    plane.workers.open_child(lease, "t1", trial, None)
    assert committed(plane.queue.running()) == Demand(cpus=4.0)  # two trials, not the sweep on top
    plane.queue.fail(sweep_job.id, 1, "its driver died", retry=True)  # queued again; its trials still "run"
    assert committed(plane.queue.running()) == Demand()
