"""``GET /api/runs/{run_id}/events``: a run's events as Server-Sent Events.

A new stream first replays the run's events so far, then sends each new one as it happens, and ends after
``run.finished``. ``Last-Event-ID: n`` (what a browser's ``EventSource`` sends when it reconnects; ``?after=n`` for
clients that cannot set headers) resumes after event ``n``: nothing twice, nothing skipped. Events of runs this
server executes come from their engine hook; events of runs recorded elsewhere are derived from the run store
(:mod:`graflow.api.follow`). While nothing happens, a comment line every :data:`KEEPALIVE_SECONDS` keeps proxies
from closing the stream.

Each message is ``id: <n>``, ``event: <name>``, ``data: <json>``. Names: ``run.started``, ``task.started``,
``task.completed``, ``task.failed``, ``task.retrying``, ``feedback.requested``, ``feedback.answered``,
``run.paused``, ``run.finished`` (its data has the final ``status``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from graflow.api.endpoints.common import COMMON_ERRORS, described
from graflow.api.errors import ApiError, not_found
from graflow.api.events import EVENT_NAMES, RunLog
from graflow.api.follow import StoreFollower
from graflow.api.services import ApiServices, services_of
from graflow.api.store import store_call

router = APIRouter(prefix="/api", tags=["runs"], responses=COMMON_ERRORS)

#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE_SECONDS = 15.0
#: How long a client waits before reconnecting after the stream broke (the SSE ``retry`` field), in milliseconds.
RECONNECT_MS = 3000
#: One message of the stream, as the OpenAPI schema describes it.
_EVENT_SCHEMA = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "description": "The event's position in the run's log: 1, 2, 3 ..."},
        "event": {"type": "string", "enum": list(EVENT_NAMES)},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "description": "A JSON object: run_id, at (seconds since the epoch), and the event's fields"},
    },
}
_STREAM_DOC = {
    "description": "Server-Sent Events: `id: <n>`, `event: <name>`, `data: <json>`; names: "
    + ", ".join(f"`{name}`" for name in EVENT_NAMES),
    "content": {"text/event-stream": {"schema": _EVENT_SCHEMA}},
}


@router.get(
    "/runs/{run_id}/events",
    summary="A run's events (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: _STREAM_DOC,
        **described(400, "A Last-Event-ID that is not an event id"),
        **described(404, "No such run"),
    },
)
async def run_events(
    request: Request,
    run_id: str,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", description="Resume after this event")] = None,
    after: Annotated[int | None, Query(ge=0, description="Resume after this event (when headers cannot be set)")]
    = None,
) -> StreamingResponse:
    """Replay the run's events so far, then follow it until ``run.finished``."""
    services = services_of(request)
    start = _position(last_event_id, after)
    log = services.hub.get(run_id)
    if log is None:
        store = await anyio.to_thread.run_sync(services.store.get)
        run = await anyio.to_thread.run_sync(store_call, "read the run", store.get_run, run_id)
        if run is None:
            raise not_found(f"Run {run_id!r}")
        log, _ = services.hub.open(run_id, "store")
    return StreamingResponse(
        _stream(services, log, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _position(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is None or not last_event_id.strip():
        return after or 0
    try:
        position = int(last_event_id.strip())
    except ValueError:
        position = -1
    if position < 0:
        raise ApiError(400, f"Last-Event-ID must be an event id (a whole number >= 0), not {last_event_id!r}")
    return position


async def _stream(services: ApiServices, log: RunLog, position: int) -> AsyncIterator[bytes]:
    waiter = log.subscribe()
    try:
        yield f"retry: {RECONNECT_MS}\n\n".encode()
        while True:
            waiter.clear()  # before reading: a change after the read sets it again
            _follow(services, log)
            events = log.since(position)
            if events:
                position = events[-1].id
                yield b"".join(event.frame() for event in events)
            if log.closed and position >= log.last_id:
                return
            try:
                await asyncio.wait_for(waiter.wait(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield b": keepalive\n\n"
    finally:
        log.unsubscribe(waiter)


def _follow(services: ApiServices, log: RunLog) -> None:
    """Keep a log derived from the store in step while a stream reads it."""
    if log.source != "store" or log.closed:
        return
    follower: Any = log.follower
    if follower is None:
        follower = log.follower = StoreFollower(log, services.store)
    follower.ensure_running()


__all__ = ["KEEPALIVE_SECONDS", "router"]
