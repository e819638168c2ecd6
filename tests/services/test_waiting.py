"""Why a queued job waits: its unfinished `from_job`, its resources against the cluster's, its queue place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ab_core.specs import parse_spec
from services.placement import Demand
from services.plane import ControlPlane
from services.ray_head import free_port
from services.ray_jobs import ClusterResources
from services.records import Principal
from services.testing import sample_spec
from services.waiting import ClusterGauge, explain

ALICE = Principal("alice")
FOUR_CPUS = ClusterResources(total={"CPU": 4.0}, used={})


def submit(plane: ControlPlane, root: Path, priority: int = 0, **overrides: Any) -> str:
    job, _ = plane.jobs.submit(ALICE, parse_spec(sample_spec(root, **overrides)), priority=priority)
    return job.id


def reasons(plane: ControlPlane, cluster: ClusterResources | str = FOUR_CPUS) -> dict[str, Any]:
    return explain(plane.db, plane.queue.queued(), cluster)


def test_the_place_in_the_queue_follows_the_claim_order(plane: ControlPlane, dataset_root: Path):
    old, young = submit(plane, dataset_root), submit(plane, dataset_root)
    urgent = submit(plane, dataset_root, priority=5)
    waits = reasons(plane)
    assert [(waits[j].position, waits[j].queued) for j in (urgent, old, young)] == [(1, 3), (2, 3), (3, 3)]
    assert "position 3 of 3 in the queue" in waits[young].summary


def test_a_job_whose_from_job_still_runs_names_it_and_its_state(plane: ControlPlane, dataset_root: Path):
    upstream = submit(plane, dataset_root, method={"method": "simclr"})
    plane.queue.claim("node", job_ids=[upstream])
    evaluation = {"kind": "evaluate", "method": {"method": "padim"}, "backbone": {"from_job": upstream},
                  "data": {"dataset": "mvtec", "root": str(dataset_root)}}  # fmt: skip
    job, _ = plane.jobs.submit(ALICE, parse_spec(evaluation))
    wait = reasons(plane)[job.id]
    assert (wait.upstream.field, wait.upstream.job_id, wait.upstream.state) == (
        "backbone.from_job", upstream, "running")  # fmt: skip
    assert wait.summary.startswith(f"waits for job {upstream} (backbone.from_job) to succeed; it is running")


def test_resources_are_weighed_against_the_cluster_and_what_running_jobs_hold(
    plane: ControlPlane, dataset_root: Path
):
    holder = submit(plane, dataset_root, resources={"workers": 3})
    plane.queue.claim("node", job_ids=[holder])  # holds 3 of the 4 CPUs (Ray has not noticed yet)
    big = submit(plane, dataset_root, resources={"workers": 8})
    pair = submit(plane, dataset_root, resources={"workers": 2})
    small = submit(plane, dataset_root)
    waits = reasons(plane)
    assert (waits[pair].needs, waits[pair].total, waits[pair].free) == (Demand(2), Demand(4), Demand(1))
    assert waits[big].summary.startswith("needs 8 CPU, 0 GPU at once but the cluster has 4 CPU, 0 GPU in")
    assert waits[pair].summary.startswith("needs 2 CPU, 0 GPU; 1 CPU, 0 GPU of 4 CPU, 0 GPU free")
    assert waits[small].summary.startswith("fits (1 CPU, 0 GPU of 1 CPU, 0 GPU free)")


def test_an_unreadable_cluster_is_said_so_with_the_reason(plane: ControlPlane, dataset_root: Path):
    job = submit(plane, dataset_root)
    address = f"http://127.0.0.1:{free_port()}"
    problem = ClusterGauge(address, None, timeout=1.0).read()
    assert isinstance(problem, str) and address in problem
    wait = reasons(plane, problem)[job]
    assert wait.total is None
    assert f"the cluster's resources are unknown (Ray dashboard at {address}" in wait.summary


def test_jobs_that_are_not_queued_have_no_wait_reason(plane: ControlPlane, dataset_root: Path):
    job = submit(plane, dataset_root)
    plane.queue.claim("node", job_ids=[job])
    assert explain(plane.db, plane.queue.running(), FOUR_CPUS) == {}
