"""Following a job live: backlog from SQL, live events from the bus, resume without gaps or repeats."""

from __future__ import annotations

import asyncio

import pytest

from ab_core.specs import JobSpec
from services.bus import EventBus, InProcessBus
from services.db import Database
from services.plane import ControlPlane
from services.records import EventRecord, Principal
from services.settings import Settings
from services.streaming import follow
from services.testing import reset_database, run_job_in_background

ALICE = Principal("alice")


@pytest.fixture
def live_plane(migrated_db: Database, settings: Settings, bus: EventBus) -> ControlPlane:
    reset_database(migrated_db)
    return ControlPlane.build(settings, db=migrated_db, bus=bus)


async def collect(plane: ControlPlane, job_id: str, after: int = 0, stop_after: int | None = None) -> list:
    got: list[EventRecord | None] = []
    async for item in follow(plane.jobs, plane.bus, job_id, after, keepalive=0.3):
        got.append(item)
        if stop_after is not None and len([e for e in got if e is not None]) >= stop_after:
            break
    return got


def test_follow_yields_backlog_then_live_events_and_ends_at_the_terminal_one(
    live_plane: ControlPlane, spec: JobSpec
):
    job, _ = live_plane.jobs.submit(ALICE, spec)
    worker = run_job_in_background(live_plane, job.id, steps=10)
    got = [e for e in asyncio.run(collect(live_plane, job.id)) if e is not None]
    worker.join()
    assert [e.seq for e in got] == list(range(1, 14))  # queued, running, 10 progress, succeeded
    assert got[-1].kind == "state" and got[-1].data["state"] == "succeeded"


def test_resuming_after_a_seq_gives_the_rest_without_gaps_or_repeats(live_plane: ControlPlane, spec: JobSpec):
    job, _ = live_plane.jobs.submit(ALICE, spec)
    worker = run_job_in_background(live_plane, job.id, steps=8)
    first = [e for e in asyncio.run(collect(live_plane, job.id, stop_after=5)) if e is not None]
    rest = [e for e in asyncio.run(collect(live_plane, job.id, after=first[-1].seq)) if e is not None]
    worker.join()
    assert [e.seq for e in first + rest] == list(range(1, 12))


def test_following_a_finished_job_from_its_end_returns_at_once(live_plane: ControlPlane, spec: JobSpec):
    job, _ = live_plane.jobs.submit(ALICE, spec)
    done = live_plane.jobs.cancel(ALICE, job.id)
    assert asyncio.run(collect(live_plane, job.id, after=done.last_event_seq)) == []


def test_a_quiet_job_gets_keepalive_pings(live_plane: ControlPlane, spec: JobSpec):
    job, _ = live_plane.jobs.submit(ALICE, spec)

    async def first_items() -> list:
        items = []
        async for item in follow(live_plane.jobs, live_plane.bus, job.id, 0, keepalive=0.2):
            items.append(item)
            if len(items) == 3:
                return items
        return items

    items = asyncio.run(asyncio.wait_for(first_items(), 10))
    assert [None if i is None else i.seq for i in items] == [1, None, None]


class ForgetfulBus(EventBus):
    """A bus that drops every other event: the stream must fill the holes from SQL."""

    def __init__(self, inner: EventBus):
        self.inner, self.count = inner, 0

    def publish(self, event: EventRecord) -> None:
        self.count += 1
        if self.count % 2:
            self.inner.publish(event)

    async def listen(self, job_id: str, after_seq: int, timeout: float) -> list[EventRecord]:
        return await self.inner.listen(job_id, after_seq, timeout)

    def signal(self, kind, job_id):  # type: ignore[no-untyped-def]
        self.inner.signal(kind, job_id)

    def wait_for_signals(self, timeout: float):  # type: ignore[no-untyped-def]
        return self.inner.wait_for_signals(timeout)


def test_events_the_bus_lost_are_filled_in_from_sql(
    migrated_db: Database, settings: Settings, spec: JobSpec, bus
):
    reset_database(migrated_db)
    plane = ControlPlane.build(settings, db=migrated_db, bus=ForgetfulBus(bus))
    job, _ = plane.jobs.submit(ALICE, spec)
    worker = run_job_in_background(plane, job.id, steps=6)
    got = [e for e in asyncio.run(collect(plane, job.id)) if e is not None]
    worker.join()
    assert [e.seq for e in got] == list(range(1, 10))


class DeafBus(ForgetfulBus):
    """A bus that never delivers (another process published, or Redis is gone)."""

    def publish(self, event: EventRecord) -> None:
        pass

    async def listen(self, job_id: str, after_seq: int, timeout: float) -> list[EventRecord]:
        await asyncio.sleep(timeout)
        return []


def test_without_a_working_bus_events_still_arrive_by_polling_sql(
    migrated_db: Database, settings: Settings, spec: JobSpec
):
    reset_database(migrated_db)
    plane = ControlPlane.build(settings, db=migrated_db, bus=DeafBus(InProcessBus()))
    job, _ = plane.jobs.submit(ALICE, spec)
    worker = run_job_in_background(plane, job.id, steps=3)

    async def everything() -> list:
        return [e async for e in follow(plane.jobs, plane.bus, job.id, keepalive=30, sql_poll=0.1) if e]

    got = asyncio.run(asyncio.wait_for(everything(), 20))
    worker.join()
    assert [e.seq for e in got] == list(range(1, 7))
