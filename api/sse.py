"""A job's event stream as Server-Sent Events (sse-starlette): `id` is the event seq, for `Last-Event-ID`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent

from api.schemas import EventRead
from services.records import EventRecord

RETRY_MILLISECONDS = 3000
SEP = "\n"  # the wire format clients have always read: LF-terminated lines


def message(event: EventRecord) -> ServerSentEvent:
    """One SSE message: `id` is the job's event seq, so `Last-Event-ID` resumes right after it."""
    data = EventRead.of(event).model_dump_json()
    return ServerSentEvent(data, id=str(event.seq), event=event.kind, sep=SEP)


async def _messages(items: AsyncGenerator[EventRecord | None, None]) -> AsyncIterator[ServerSentEvent]:
    async with contextlib.aclosing(items):  # a client gone cancels the wait; closing runs its cleanup
        yield ServerSentEvent(retry=RETRY_MILLISECONDS, sep=SEP)
        async for item in items:
            if item is not None:  # None marks a quiet spell: the response's own pings cover those
                yield message(item)
    ended = {"reason": "the job reached a terminal state"}  # so clients close instead of reconnecting
    yield ServerSentEvent(json.dumps(ended), event="end", sep=SEP)


def event_stream(items: AsyncGenerator[EventRecord | None, None], ping_seconds: float) -> EventSourceResponse:
    """`items` as SSE, a `: ping` comment every `ping_seconds`, and `end` after the terminal event."""
    return EventSourceResponse(
        _messages(items),
        ping=ping_seconds,
        sep=SEP,
        ping_message_factory=lambda: ServerSentEvent(comment="ping", sep=SEP),
        headers={"Cache-Control": "no-cache"},
    )
