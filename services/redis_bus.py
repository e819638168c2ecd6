"""The Redis event bus: a bounded Redis Stream per job (entry id `<seq>-0`) and a list for wake-up signals."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from datetime import datetime
from typing import Any

import redis
import redis.asyncio as aioredis

from services.bus import EventBus, Signal, SignalKind
from services.records import EventRecord

log = logging.getLogger(__name__)

STREAM_TTL_SECONDS = 7 * 24 * 3600
SIGNALS_KEPT = 10_000
BACKOFF_SECONDS = 5.0


class RedisBus(EventBus):
    """Redis Streams fan-out. Every call degrades to "nothing live" while Redis is down: SQL still has it all.

    Stream entries carry the job's event seq as their id, so a reader resumes exactly after the last seq it
    saw, and an entry trimmed away (MAXLEN) shows up as a gap the reader fills from SQL.
    """

    def __init__(self, url: str, prefix: str = "ab:", max_events_per_job: int = 10_000):
        self.url, self.prefix, self.max_events = url, prefix, max_events_per_job
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self._blocking = redis.Redis.from_url(url, socket_connect_timeout=1)  # BRPOP: no read timeout
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
            weakref.WeakKeyDictionary()
        )
        self._down_until = 0.0

    def stream_key(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}:events"

    @property
    def signals_key(self) -> str:
        return f"{self.prefix}signals"

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _mark_down(self, error: Exception) -> None:
        log.warning("redis at %s unavailable (%s); live events fall back to SQL", self.url, error)
        self._down_until = time.monotonic() + BACKOFF_SECONDS

    def publish(self, event: EventRecord) -> None:
        if not self._available():
            return
        key = self.stream_key(event.job_id)
        fields = {
            "attempt": event.attempt,
            "kind": event.kind,
            "data": json.dumps(event.data),
            "created_at": event.created_at.isoformat(),
        }
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.xadd(key, fields, id=f"{event.seq}-0", maxlen=self.max_events, approximate=True)  # type: ignore[arg-type]
            pipe.expire(key, STREAM_TTL_SECONDS)
            pipe.execute(raise_on_error=False)  # an id not above the last one = already published
        except redis.RedisError as error:
            self._mark_down(error)

    def _async_client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
            self._async_clients[loop] = client
        return client

    async def listen(self, job_id: str, after_seq: int, timeout: float) -> list[EventRecord]:
        if not self._available():
            await asyncio.sleep(min(timeout, 1.0))
            return []
        key = self.stream_key(job_id)
        try:
            reply = await asyncio.wait_for(
                self._async_client().xread(
                    {key: f"{after_seq}-0"}, count=500, block=max(1, int(timeout * 1000))
                ),
                timeout + 2,
            )
        except (redis.RedisError, OSError, asyncio.TimeoutError) as error:
            self._mark_down(error)
            return []
        streams: list[tuple[Any, list[tuple[Any, dict[Any, Any]]]]] = reply or []  # type: ignore[assignment]
        return [
            _event_of(job_id, entry_id, fields) for _key, entries in streams for entry_id, fields in entries
        ]

    def signal(self, kind: SignalKind, job_id: str) -> None:
        if not self._available():
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.lpush(self.signals_key, f"{kind}:{job_id}")
            pipe.ltrim(self.signals_key, 0, SIGNALS_KEPT - 1)
            pipe.execute()
        except redis.RedisError as error:
            self._mark_down(error)

    def wait_for_signals(self, timeout: float) -> list[Signal]:
        if not self._available():
            time.sleep(min(timeout, 1.0))
            return []
        try:
            first = self._blocking.brpop([self.signals_key], timeout=max(timeout, 0.01))
            if first is None:
                return []
            rest = self._blocking.rpop(self.signals_key, SIGNALS_KEPT) or []
        except redis.RedisError as error:
            self._mark_down(error)
            return []
        raw = [first[1], *rest]  # type: ignore[index]
        return [_signal_of(item) for item in raw]

    def ping(self) -> None:
        self._client.ping()

    def close(self) -> None:
        self._client.close()
        self._blocking.close()


def _event_of(job_id: str, entry_id: Any, fields: dict[Any, Any]) -> EventRecord:
    text = {_str(key): _str(value) for key, value in fields.items()}
    return EventRecord(
        job_id=job_id,
        seq=int(_str(entry_id).split("-")[0]),
        attempt=int(text["attempt"]),
        kind=text["kind"],
        data=json.loads(text["data"]),
        created_at=datetime.fromisoformat(text["created_at"]),
    )


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _signal_of(raw: bytes | str) -> Signal:
    kind, _, job_id = _str(raw).partition(":")
    return Signal(kind, job_id)  # type: ignore[arg-type]
