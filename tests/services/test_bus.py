"""Both event buses: live fan-out after a seq, wake-ups across threads, signals, and a Redis that is down."""

from __future__ import annotations

import asyncio
import threading
import time

from services.bus import EventBus
from services.db import utcnow
from services.records import EventRecord
from services.redis_bus import RedisBus


def event(seq: int, job_id: str = "job-1", kind: str = "progress") -> EventRecord:
    return EventRecord(job_id, seq, 1, kind, {"step": seq}, utcnow())


def test_listen_returns_the_held_events_after_a_seq_in_order(bus: EventBus):
    for seq in (1, 2, 3):
        bus.publish(event(seq))
    bus.publish(event(1, job_id="job-2"))
    got = asyncio.run(bus.listen("job-1", 1, timeout=1))
    assert [(e.seq, e.data) for e in got] == [(2, {"step": 2}), (3, {"step": 3})]
    assert got[0].created_at.tzinfo is not None


def test_publishing_the_same_seq_twice_keeps_one_copy(bus: EventBus):
    bus.publish(event(1))
    bus.publish(event(1))
    assert [e.seq for e in asyncio.run(bus.listen("job-1", 0, timeout=1))] == [1]


def test_a_listener_wakes_when_another_thread_publishes(bus: EventBus):
    timer = threading.Timer(0.2, lambda: bus.publish(event(1)))
    timer.start()
    started = time.monotonic()
    got = asyncio.run(bus.listen("job-1", 0, timeout=5))
    timer.join()
    assert [e.seq for e in got] == [1] and time.monotonic() - started < 3


def test_a_quiet_listener_returns_nothing_after_its_timeout(bus: EventBus):
    started = time.monotonic()
    assert asyncio.run(bus.listen("quiet", 0, timeout=0.3)) == []
    assert 0.25 <= time.monotonic() - started < 3


def test_signals_reach_the_waiter_in_order(bus: EventBus):
    bus.signal("work", "a")
    bus.signal("cancel", "b")
    assert [(s.kind, s.job_id) for s in bus.wait_for_signals(1)] == [("work", "a"), ("cancel", "b")]
    assert bus.wait_for_signals(0.1) == []


def test_a_redis_that_is_down_costs_latency_not_errors():
    down = RedisBus("redis://127.0.0.1:1/0", "ab:down:")
    down.publish(event(1))
    down.signal("work", "a")
    started = time.monotonic()
    assert asyncio.run(down.listen("job-1", 0, timeout=0.5)) == []
    assert down.wait_for_signals(0.2) == []
    assert time.monotonic() - started < 5
    down.close()
