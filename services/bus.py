"""The event bus: live fan-out of job events plus wake-up and cancel signals; SQL keeps the durable copy.

Two implementations share this interface: `InProcessBus` (embedded mode, one process) and
`services.redis_bus.RedisBus` (Redis Streams). Losing either loses latency only: readers fall back to SQL.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal

from services.records import EventRecord

SignalKind = Literal["work", "cancel"]


@dataclass(frozen=True)
class Signal:
    """A nudge for the dispatcher: new work was queued, or a running job should be cancelled."""

    kind: SignalKind
    job_id: str


class EventBus(ABC):
    @abstractmethod
    def publish(self, event: EventRecord) -> None:
        """Fan an event out to live listeners; called after its SQL commit; never raises."""

    @abstractmethod
    async def listen(self, job_id: str, after_seq: int, timeout: float) -> list[EventRecord]:
        """Events of `job_id` with seq > after_seq that the bus still holds, waiting up to `timeout` seconds
        for one to arrive; an empty list when none came (or the bus is down: read SQL instead)."""

    @abstractmethod
    def signal(self, kind: SignalKind, job_id: str) -> None:
        """Send a wake-up (`work`) or a cancel request (`cancel`) to the signal waiter; never raises."""

    @abstractmethod
    def wait_for_signals(self, timeout: float) -> list[Signal]:
        """Block up to `timeout` seconds for signals; return every pending one (possibly none)."""

    def ping(self) -> None:  # noqa: B027  (optional hook)
        """Raise if the bus is unusable (readiness probe)."""

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release connections."""


class InProcessBus(EventBus):
    """Embedded mode: the most recent events of the most recent jobs in memory, listeners woken in place."""

    def __init__(self, max_events_per_job: int = 1000, max_jobs: int = 1000):
        self._lock = threading.Lock()
        self._streams: OrderedDict[str, deque[EventRecord]] = OrderedDict()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._max_events, self._max_jobs = max_events_per_job, max_jobs
        self._signals: deque[Signal] = deque(maxlen=10_000)
        self._signalled = threading.Condition(self._lock)

    def publish(self, event: EventRecord) -> None:
        with self._lock:
            stream = self._streams.get(event.job_id)
            if stream is None:
                stream = self._streams[event.job_id] = deque(maxlen=self._max_events)
                while len(self._streams) > self._max_jobs:
                    self._streams.popitem(last=False)
            self._streams.move_to_end(event.job_id)
            if not stream or stream[-1].seq < event.seq:
                stream.append(event)
            waiters = self._waiters.pop(event.job_id, [])
        for loop, woken in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(woken.set)

    def _held_after(self, job_id: str, after_seq: int) -> list[EventRecord]:
        return [event for event in self._streams.get(job_id, ()) if event.seq > after_seq]

    async def listen(self, job_id: str, after_seq: int, timeout: float) -> list[EventRecord]:
        woken = asyncio.Event()
        with self._lock:
            held = self._held_after(job_id, after_seq)
            if held:
                return held
            entry = (asyncio.get_running_loop(), woken)
            self._waiters.setdefault(job_id, []).append(entry)
        try:
            await asyncio.wait_for(woken.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        finally:  # also when the listener is cancelled (its client went away)
            with self._lock:
                waiting = self._waiters.get(job_id, [])
                if entry in waiting:
                    waiting.remove(entry)
                    if not waiting:
                        del self._waiters[job_id]
        with self._lock:
            return self._held_after(job_id, after_seq)

    def waiting_listeners(self) -> int:
        """How many listeners are parked (a disconnected client must leave none behind)."""
        with self._lock:
            return sum(len(waiting) for waiting in self._waiters.values())

    def signal(self, kind: SignalKind, job_id: str) -> None:
        with self._signalled:
            self._signals.append(Signal(kind, job_id))
            self._signalled.notify_all()

    def wait_for_signals(self, timeout: float) -> list[Signal]:
        with self._signalled:
            if not self._signals:
                self._signalled.wait(timeout)
            pending = list(self._signals)
            self._signals.clear()
            return pending
