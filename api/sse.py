"""Server-Sent Events framing of a job's event stream, stopped as soon as the client goes away."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator

from starlette.requests import Request

from api.schemas import EventRead
from services.records import EventRecord

RETRY_MILLISECONDS = 3000
PING = b": ping\n\n"


def frame(event: EventRecord) -> bytes:
    """One SSE message: `id` is the job's event seq, so `Last-Event-ID` resumes right after it."""
    data = EventRead.of(event).model_dump_json()
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n".encode()


def end_frame(reason: str) -> bytes:
    """Sent after the terminal event, so clients close instead of reconnecting."""
    return f"event: end\ndata: {json.dumps({'reason': reason})}\n\n".encode()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def sse_stream(
    request: Request, items: AsyncGenerator[EventRecord | None, None]
) -> AsyncIterator[bytes]:
    """Frame `items` (None = keep-alive ping); a client disconnect cancels the pending wait at once."""
    gone = asyncio.ensure_future(_disconnected(request))
    following: asyncio.Future[EventRecord | None] | None = None
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
        while True:
            following = asyncio.ensure_future(anext(items))
            done, _ = await asyncio.wait({following, gone}, return_when=asyncio.FIRST_COMPLETED)
            if following not in done:
                return
            try:
                item = following.result()
            except StopAsyncIteration:
                yield end_frame("the job reached a terminal state")
                return
            yield PING if item is None else frame(item)
    finally:
        gone.cancel()
        if following is not None and not following.done():
            following.cancel()  # unblocks the bus wait and runs its cleanup
            await asyncio.wait({following})
        await items.aclose()
