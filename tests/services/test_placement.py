"""Placement: GPU-aware claims, backfill while a big job is young, and a reservation once it has waited."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.placement import Demand, Waiting, place

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
PATIENCE = timedelta(seconds=60)


def waiting(job_id: str, cpus: float = 1, gpus: float = 0, age: float = 0) -> Waiting:
    return Waiting(job_id, Demand(cpus, gpus), NOW - timedelta(seconds=age))


def test_demand_is_workers_times_the_per_worker_resources_with_ab_core_defaults():
    spec = {"resources": {"workers": 2, "gpus_per_worker": 1, "cpus_per_worker": 4}}
    assert Demand.of_spec(spec) == Demand(8, 2)
    assert Demand.of_spec({}) == Demand(1, 0)


def test_a_job_asking_two_gpus_waits_until_two_are_free():
    total = Demand(16, 2)
    assert place([waiting("big", gpus=2)], Demand(16, 1), total, NOW, PATIENCE).start == []
    assert place([waiting("big", gpus=2)], Demand(16, 2), total, NOW, PATIENCE).start == ["big"]


def test_jobs_start_in_order_while_they_fit():
    queued = [waiting("a", cpus=2), waiting("b", cpus=2), waiting("c", cpus=2)]
    assert place(queued, Demand(5, 0), Demand(8, 0), NOW, PATIENCE).start == ["a", "b"]


def test_a_smaller_job_backfills_past_a_young_big_job():
    queued = [waiting("big", gpus=2, age=10), waiting("small", cpus=1)]
    assert place(queued, Demand(4, 1), Demand(4, 2), NOW, PATIENCE).start == ["small"]


def test_a_big_job_that_waited_long_enough_reserves_the_cluster_so_it_is_not_starved():
    queued = [waiting("big", gpus=2, age=61), waiting("small", gpus=1)]
    assert place(queued, Demand(4, 1), Demand(4, 2), NOW, PATIENCE).start == []


def test_a_job_larger_than_the_cluster_is_reported_and_blocks_nothing():
    queued = [waiting("huge", gpus=8, age=1000), waiting("small")]
    placement = place(queued, Demand(2, 0), Demand(2, 0), NOW, PATIENCE)
    assert placement.too_big == ["huge"] and placement.start == ["small"]
