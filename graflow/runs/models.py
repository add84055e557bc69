"""What the run store keeps: runs, task attempts, pages of runs, and the helpers every store shares.

Timestamps are seconds since the epoch (UTC) as floats: they compare and sort the same way on every backend and
round-trip exactly through SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import re
import reprlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from graflow.runs import settings
from graflow.runs.errors import RunStoreError

# -- statuses ------------------------------------------------------------------------------------------------------
#: Statuses of a run as the engine reports them (``ExecutionContext.status``), plus ``crashed``.
RUN_STATUSES = ("created", "running", "completed", "failed", "canceled", "terminated", "max_steps_reached",
                "paused", "crashed")
#: Statuses after which a run changes no more (``paused`` may resume later under the same id).
FINAL_RUN_STATUSES = frozenset({"completed", "failed", "canceled", "terminated", "max_steps_reached", "crashed"})
#: Statuses of one task attempt. ``retrying``: it failed and another attempt follows; ``paused``: it paused the run.
ATTEMPT_STATUSES = ("started", "completed", "failed", "retrying", "paused")


@dataclass
class RunRecord:
    """One workflow run.

    Attributes:
        run_id: The run's id: its execution context's ``session_id``.
        workflow: The workflow's name.
        status: One of :data:`RUN_STATUSES`. Read back from a store, a ``running`` run whose heartbeat expired
            shows as ``crashed``.
        created_at: When the run was first recorded.
        updated_at: When the record last changed.
        started_at: When the engine started it (the latest start, for a resumed run).
        ended_at: When it ended (None while it runs).
        heartbeat_at: The last sign of life of a running run.
        expires_at: Past this time a ``running`` run is ``crashed``; None: it never expires (no heartbeat).
        worker_id: The worker that ran it, when a worker did.
        host: The host name of the process that ran it.
        pid: That process's id.
        parameters: The channel seed the run started with (values as JSON, else as a bounded ``repr``).
        result_preview: ``repr`` of the run's result, cut to a few hundred characters.
        error_type: Class name of the error that ended the run.
        error_message: Its message.
        traceback: Its formatted traceback (the tail when long).
        checkpoints: Paths of the checkpoints written during the run, oldest first.
        feedback: The feedback requests the run waits on: ``{"feedback_id", "task_id", "status"}``.
        history: Status transitions, oldest first: ``[status, timestamp]`` pairs.
        spec: How to load the workflow again (``FILE[:WORKFLOW]`` or ``MODULE[:WORKFLOW]``, a file path made
            absolute), for runs started by ``graflow run``; None otherwise.
        retry_of: The run this one retries (``graflow retry``), else None.
        invocation: What the run was started with besides the spec: ``parameters`` in full (JSON), ``start``,
            ``max_steps``, ``checkpoint_every``, ``checkpoint_dir``, ``cwd`` (what ``graflow retry`` starts again
            with).
        profile: Per-task measurements of a run started with ``graflow run --profile``: one mapping per task
            with ``task_id``, ``calls``, ``wall``, ``cpu`` (seconds) and ``peak_bytes``, slowest first.
    """

    run_id: str
    workflow: str
    status: str = "created"
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    heartbeat_at: float | None = None
    expires_at: float | None = None
    worker_id: str | None = None
    host: str | None = None
    pid: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    result_preview: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    checkpoints: list[str] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    history: list[list[Any]] = field(default_factory=list)
    spec: str | None = None
    retry_of: str | None = None
    invocation: dict[str, Any] = field(default_factory=dict)
    profile: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.updated_at:
            self.updated_at = self.created_at

    def transition(self, status: str, at: float | None = None) -> None:
        """Move to ``status`` at ``at`` (now), recording the transition in :attr:`history`."""
        at = time.time() if at is None else at
        self.status = status
        self.updated_at = at
        self.history.append([status, at])

    def copy(self) -> RunRecord:
        """A copy whose lists and mappings are not shared with this record."""
        return replace(self, parameters=dict(self.parameters), checkpoints=list(self.checkpoints),
                       feedback=[dict(f) for f in self.feedback], history=[list(h) for h in self.history],
                       invocation=copy.deepcopy(self.invocation), profile=[dict(p) for p in self.profile])


@dataclass
class TaskAttempt:
    """One attempt of one task of a run.

    Attributes:
        attempt_id: Unique id of the attempt.
        run_id: The run it belongs to.
        task_id: The task's node id.
        attempt: 1 for the first attempt, 2 for the first retry ...
        status: One of :data:`ATTEMPT_STATUSES`.
        started_at: When it started.
        ended_at: When it ended (None while it runs).
        duration: Its duration in seconds, on the monotonic clock.
        worker_id: The worker that ran it, when a worker did.
        error_type: Class name of its error.
        error_message: The error's message.
        traceback: The formatted traceback (the tail when long).
        result_preview: ``repr`` of its result, cut short (runs on an in-process channel only).
        retry_delay: For a ``retrying`` attempt: seconds until the next attempt.
    """

    attempt_id: str
    run_id: str
    task_id: str
    attempt: int = 1
    status: str = "started"
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    duration: float | None = None
    worker_id: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    result_preview: str | None = None
    retry_delay: float | None = None

    def copy(self) -> TaskAttempt:
        """A copy of this attempt."""
        return copy.copy(self)


@dataclass(frozen=True)
class CancelRequest:
    """A request to stop a run at its next task boundary (``graflow cancel``).

    The recorder of the process that runs the run polls for requests and stops the run when one was made after the
    run's latest start (a request made before a paused run was resumed does not stop the resumed part).

    Attributes:
        run_id: The run to stop.
        requested_at: When it was asked for (seconds since the epoch).
        reason: Why; becomes the run's error message.
    """

    run_id: str
    requested_at: float
    reason: str


@dataclass
class RunPage:
    """One page of :meth:`RunStore.list_runs`: newest first.

    Attributes:
        runs: The runs of this page.
        next_cursor: Pass it as ``cursor`` for the next page; None on the last page.
    """

    runs: list[RunRecord]
    next_cursor: str | None = None


@dataclass
class WriteBatch:
    """Writes applied together in one transaction by :meth:`RunStore.apply`.

    Attributes:
        runs: Runs created or replaced whole (a run that exists keeps its ``created_at``).
        attempts: Task attempts added or replaced whole.
        heartbeats: ``(run_id, heartbeat_at, expires_at)`` of running runs.
    """

    runs: list[RunRecord] = field(default_factory=list)
    attempts: list[TaskAttempt] = field(default_factory=list)
    heartbeats: list[tuple[str, float, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.runs) + len(self.attempts) + len(self.heartbeats)


# -- crashed on read -----------------------------------------------------------------------------------------------
def effective_status(run: RunRecord, now: float) -> str:
    """``crashed`` for a ``running`` run whose heartbeat expired before ``now``, else the stored status."""
    if run.status == "running" and run.expires_at is not None and run.expires_at < now:
        return "crashed"
    return run.status


def shown(run: RunRecord, now: float | None) -> RunRecord:
    """``run`` as a reader sees it at ``now``: a dead running run is ``crashed``."""
    status = effective_status(run, time.time() if now is None else now)
    if status != run.status:
        run.status = status
        run.ended_at = run.ended_at or run.heartbeat_at
    return run


def expires_at(heartbeat_at: float, interval: float) -> float:
    """When a run whose last heartbeat was at ``heartbeat_at`` counts as crashed."""
    return heartbeat_at + settings.MISSED_HEARTBEATS * interval


def statuses_of(status: str | Iterable[str] | None) -> list[str] | None:
    """The ``status`` filter of ``list_runs`` as a list (None: no filter).

    Raises:
        RunStoreError: An unknown status.
    """
    if status is None:
        return None
    wanted = [status] if isinstance(status, str) else list(status)
    unknown = [s for s in wanted if s not in RUN_STATUSES]
    if unknown:
        raise RunStoreError(f"Unknown run status {', '.join(map(repr, unknown))}; known: {', '.join(RUN_STATUSES)}")
    return list(dict.fromkeys(wanted))


# -- keyset cursors ------------------------------------------------------------------------------------------------
def encode_cursor(run: RunRecord) -> str:
    """An opaque cursor that continues a listing after ``run``: its ``(created_at, run_id)``."""
    return cursor_for(run.created_at, run.run_id)


def cursor_for(at: float, key: str) -> str:
    """An opaque cursor for the position ``(at, key)`` of a newest-first listing (runs, audit entries)."""
    raw = json.dumps([repr(at), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The ``(created_at, run_id)`` a cursor stands for.

    Raises:
        RunStoreError: The cursor was not made by :func:`encode_cursor`.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, run_id = json.loads(raw)
        return float(created), str(run_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise RunStoreError(f"Invalid run listing cursor {cursor!r}") from exc


def before(run: RunRecord, key: tuple[float, str]) -> bool:
    """Whether ``run`` comes after the cursor ``key`` in newest-first order."""
    return (run.created_at, run.run_id) < key


def page_of(runs: list[RunRecord], limit: int) -> RunPage:
    """A page from up to ``limit + 1`` runs in newest-first order (the extra one says there is a next page)."""
    if len(runs) > limit:
        runs = runs[:limit]
        return RunPage(runs, encode_cursor(runs[-1]) if runs else None)
    return RunPage(runs, None)


def check_limit(limit: int) -> int:
    """``limit`` when it is a positive page size.

    Raises:
        RunStoreError: It is not.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise RunStoreError(f"limit must be a positive integer, not {limit!r}")
    return limit


# -- ages ----------------------------------------------------------------------------------------------------------
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$")
_UNIT_SECONDS = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86_400.0,
                 "w": 604_800.0}


def age_seconds(age: timedelta | float | int | str) -> float:
    """An age in seconds: a ``timedelta``, a number of seconds, or text like ``"90s"``, ``"15m"``, ``"12h"``,
    ``"7d"``, ``"2w"`` (what ``graflow runs prune --older-than`` takes).

    Raises:
        RunStoreError: Negative, or text in another form.
    """
    if isinstance(age, timedelta):
        seconds = age.total_seconds()
    elif isinstance(age, str):
        match = _AGE.match(age.lower())
        if match is None:
            raise RunStoreError(f"Cannot read {age!r} as an age; write e.g. 90s, 15m, 12h, 7d or 2w")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        seconds = float(age)
    if seconds < 0:
        raise RunStoreError(f"An age cannot be negative: {age!r}")
    return seconds


# -- previews ------------------------------------------------------------------------------------------------------
_repr = reprlib.Repr()
_repr.maxstring = settings.PREVIEW_CHARS
_repr.maxother = settings.PREVIEW_CHARS
_repr.maxlevel = 3


def preview(value: Any, limit: int = settings.PREVIEW_CHARS) -> str:
    """A bounded ``repr`` of ``value``: never longer than ``limit`` characters, never raising."""
    try:
        text = _repr.repr(value)
    except Exception as exc:  # a broken __repr__ must not lose the rest of the record
        text = f"<{type(value).__name__}: repr failed: {type(exc).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


_JSON_SCALARS = (str, int, float, bool, type(None))


def parameter_value(value: Any) -> Any:
    """A channel value as it is stored among a run's parameters: JSON scalars as they are (long strings cut),
    anything else as a bounded ``repr``."""
    if isinstance(value, str):
        return value if len(value) <= settings.PREVIEW_CHARS else preview(value)
    if isinstance(value, _JSON_SCALARS) and not (isinstance(value, float) and not math.isfinite(value)):
        return value
    return preview(value)


def parameters_of(seed: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a run from its channel seed (bounded in count and size)."""
    out: dict[str, Any] = {}
    for key, value in seed.items():
        if len(out) >= settings.MAX_PARAMETERS:
            break
        out[str(key)] = parameter_value(value)
    return out


__all__ = [
    "ATTEMPT_STATUSES",
    "FINAL_RUN_STATUSES",
    "RUN_STATUSES",
    "CancelRequest",
    "RunPage",
    "RunRecord",
    "TaskAttempt",
    "WriteBatch",
    "age_seconds",
    "cursor_for",
    "decode_cursor",
    "effective_status",
    "encode_cursor",
    "preview",
]
