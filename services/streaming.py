"""Follow a job's events live: SQL for the backlog and for gaps, the bus for latency; no gaps, no repeats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

from services.bus import EventBus
from services.jobs import JobStore
from services.records import EventRecord

BACKLOG_PAGE = 500
SQL_POLL_SECONDS = 2.0  # also catches events published in another process (in-process bus, several workers)


async def follow(
    store: JobStore,
    bus: EventBus,
    job_id: str,
    after_seq: int = 0,
    keepalive: float = 15.0,
    sql_poll: float = SQL_POLL_SECONDS,
) -> AsyncGenerator[EventRecord | None, None]:
    """Yield the job's events with seq > after_seq in order, then live ones as they come, until the event
    that makes the job terminal. Yields None when `keepalive` seconds passed without an event (a ping).
    While the bus is quiet, SQL is read every `sql_poll` seconds: the bus only ever makes events faster."""
    last = after_seq
    read_sql = True
    last_sent = time.monotonic()
    while True:
        if read_sql:
            backlog, state = await asyncio.to_thread(store.events_since, job_id, last, BACKLOG_PAGE)
            for event in backlog:
                yield event
                last, last_sent = event.seq, time.monotonic()
                if event.terminal:
                    return
            if len(backlog) == BACKLOG_PAGE:
                continue
            if state.terminal:  # the terminal event was seen before `after_seq`
                return
            read_sql = False
        until_ping = keepalive - (time.monotonic() - last_sent)
        live = await bus.listen(job_id, last, timeout=max(0.05, min(sql_poll, until_ping)))
        if not live:  # quiet, or the bus is down: look at SQL, the source of truth
            read_sql = True
            if time.monotonic() - last_sent >= keepalive:
                yield None
                last_sent = time.monotonic()
            continue
        for event in sorted(live, key=lambda e: e.seq):
            if event.seq <= last:
                continue
            if event.seq != last + 1:  # trimmed or missed: fill the gap from SQL
                read_sql = True
                break
            yield event
            last, last_sent = event.seq, time.monotonic()
            if event.terminal:
                return
