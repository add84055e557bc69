"""Run events as Server-Sent Events: an append-only log per run, and the hub that keeps the logs.

A :class:`RunLog` holds one run's events in order; an event's id is its position (1, 2, 3 ...), so a stream that
resumes after event ``n`` (``Last-Event-ID: n``) replays ``events[n:]``: nothing twice, nothing skipped. Engine
threads append (a run's hook, parallel members included); SSE streams read on the server's event loop and sleep
until the log changes. Waking them costs one ``call_soon_threadsafe`` per batch of appends, not per event: a flag
says a wake-up is already on its way.

The hub keeps the logs of the runs this server executes (fed by :class:`~graflow.api.event_hook.RunEventHook`) and
of runs it follows in the store (:mod:`graflow.api.follow`). Logs of ended runs are kept until the events they hold
together pass a bound; then the oldest go (their runs' events are derived from the store again when asked for).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import OrderedDict
from typing import Any

#: Event names.
RUN_STARTED = "run.started"
RUN_PAUSED = "run.paused"
RUN_FINISHED = "run.finished"
TASK_STARTED = "task.started"
TASK_COMPLETED = "task.completed"
TASK_FAILED = "task.failed"
TASK_RETRYING = "task.retrying"
FEEDBACK_REQUESTED = "feedback.requested"
FEEDBACK_ANSWERED = "feedback.answered"
EVENT_NAMES = (RUN_STARTED, TASK_STARTED, TASK_COMPLETED, TASK_FAILED, TASK_RETRYING, FEEDBACK_REQUESTED,
               FEEDBACK_ANSWERED, RUN_PAUSED, RUN_FINISHED)
#: A task's state after each task event (what the run graph shows).
TASK_STATES = {TASK_STARTED: "running", TASK_COMPLETED: "completed", TASK_FAILED: "failed",
               TASK_RETRYING: "retrying"}
#: Events kept in memory, over all logs of ended runs, before the oldest logs are dropped.
DEFAULT_RETAINED_EVENTS = 1_000_000


class Event:
    """One event of a run: its id (position in the log), name and JSON data; framed for SSE once, when first sent."""

    __slots__ = ("_frame", "data", "id", "name")

    def __init__(self, event_id: int, name: str, data: dict[str, Any]) -> None:
        self.id = event_id
        self.name = name
        self.data = data
        self._frame: bytes | None = None

    def frame(self) -> bytes:
        """The event as an SSE message."""
        frame = self._frame
        if frame is None:
            payload = json.dumps(self.data, separators=(",", ":"), default=str)
            frame = self._frame = f"id: {self.id}\nevent: {self.name}\ndata: {payload}\n\n".encode()
        return frame


class RunLog:
    """The events of one run, in order.

    Args:
        run_id: The run.
        source: ``live`` (this server runs it and its hook appends) or ``store`` (derived from the run store).
    """

    def __init__(self, run_id: str, source: str = "live") -> None:
        self.run_id = run_id
        self.source = source
        self.events: list[Event] = []
        self.closed = False
        self.paused = False
        self.status: str | None = None
        #: Per task id: ``{"state", "attempt"}`` after its latest event.
        self.task_states: dict[str, dict[str, Any]] = {}
        self.follower: Any = None
        self._answered: set[str] = set()
        self._lock = threading.Lock()
        self._subscribers: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}
        self._wake_pending = False

    def __len__(self) -> int:
        return len(self.events)

    @property
    def last_id(self) -> int:
        """Id of the newest event (0 when there is none)."""
        return len(self.events)

    # -- writing (any thread) ----------------------------------------------------------------------------------------
    def append(self, name: str, data: dict[str, Any]) -> Event | None:
        """Add an event (``run_id`` and ``at`` are filled in when missing). Nothing is added to a closed log.

        Returns:
            The event, or None when the log is closed (or the feedback was answered before).
        """
        data.setdefault("run_id", self.run_id)
        data.setdefault("at", time.time())
        with self._lock:
            if self.closed:
                return None
            if name == FEEDBACK_ANSWERED:  # the asking task and the answering side may both report it
                feedback_id = str(data.get("feedback_id"))
                if feedback_id in self._answered:
                    return None
                self._answered.add(feedback_id)
            event = Event(len(self.events) + 1, name, data)
            self.events.append(event)
            state = TASK_STATES.get(name)
            if state is not None:
                self.task_states[str(data.get("task_id"))] = {"state": state, "attempt": data.get("attempt")}
            elif name == RUN_PAUSED:
                self.paused = True
            elif name == RUN_STARTED:
                self.paused = False
            elif name == RUN_FINISHED:
                self.closed = True
                self.status = data.get("status")
        self._wake()
        return event

    def finish(self, status: str, **data: Any) -> Event | None:
        """Append ``run.finished`` with the run's final ``status`` and close the log."""
        return self.append(RUN_FINISHED, {"status": status, **data})

    # -- reading (the event loop) ------------------------------------------------------------------------------------
    def since(self, after: int) -> list[Event]:
        """The events after id ``after``."""
        return self.events[max(0, after):]

    def subscribe(self) -> asyncio.Event:
        """An event that is set whenever the log changes (on the running loop); unsubscribe when done."""
        waiter = asyncio.Event()
        self._subscribers[waiter] = asyncio.get_running_loop()
        return waiter

    def unsubscribe(self, waiter: asyncio.Event) -> None:
        """Stop waking ``waiter``."""
        self._subscribers.pop(waiter, None)

    @property
    def subscribers(self) -> int:
        """Streams reading this log now."""
        return len(self._subscribers)

    def _wake(self) -> None:
        if not self._subscribers or self._wake_pending:
            return
        self._wake_pending = True
        for loop in set(self._subscribers.values()):
            try:
                loop.call_soon_threadsafe(self._wake_waiters)
            except RuntimeError:  # that loop is closed: its streams are gone
                for waiter in [w for w, owner in self._subscribers.items() if owner is loop]:
                    self._subscribers.pop(waiter, None)

    def _wake_waiters(self) -> None:
        # Cleared first: an append after this point schedules another wake-up, so none is lost.
        self._wake_pending = False
        loop = asyncio.get_running_loop()
        for waiter, owner in list(self._subscribers.items()):
            if owner is loop:
                waiter.set()


class EventHub:
    """The run logs of a server, by run id.

    Args:
        retained_events: Events kept in logs of ended runs; past it the oldest of those logs are dropped.
    """

    def __init__(self, retained_events: int = DEFAULT_RETAINED_EVENTS) -> None:
        self.retained_events = retained_events
        self._logs: OrderedDict[str, RunLog] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: str) -> RunLog | None:
        """The log of ``run_id`` if the hub has one."""
        with self._lock:
            return self._logs.get(run_id)

    def open(self, run_id: str, source: str = "live") -> tuple[RunLog, bool]:
        """The log of ``run_id``, made now when there is none. A log followed in the store becomes ``live`` when
        asked for as such (a paused run resumes here): its follower stops and the run's hook goes on from its last
        event.

        Returns:
            The log and whether it was made now.
        """
        with self._lock:
            log = self._logs.get(run_id)
            if log is not None:
                self._logs.move_to_end(run_id)
                if source == "live":
                    log.source = "live"
                return log, False
            log = self._logs[run_id] = RunLog(run_id, source)
            self._evict()
            return log, True

    def discard(self, run_id: str) -> None:
        """Forget the log of ``run_id`` (a run that could not be started)."""
        with self._lock:
            self._logs.pop(run_id, None)

    def live(self) -> list[RunLog]:
        """Logs of runs that have not ended."""
        with self._lock:
            return [log for log in self._logs.values() if not log.closed]

    def _evict(self) -> None:
        ended = [log for log in self._logs.values() if log.closed and not log.subscribers]
        total = sum(len(log) for log in ended)
        for log in ended:  # oldest first
            if total <= self.retained_events:
                break
            total -= len(log)
            self._logs.pop(log.run_id, None)


__all__ = [
    "EVENT_NAMES",
    "FEEDBACK_ANSWERED",
    "FEEDBACK_REQUESTED",
    "RUN_FINISHED",
    "RUN_PAUSED",
    "RUN_STARTED",
    "TASK_COMPLETED",
    "TASK_FAILED",
    "TASK_RETRYING",
    "TASK_STARTED",
    "Event",
    "EventHub",
    "RunLog",
]
