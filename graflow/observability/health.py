"""Health checks: a :class:`HealthMonitor` that aggregates named checks, and built-in checks for workers.

Liveness and readiness are different questions. *Liveness* ("is this process stuck?") is answered by the checks
registered with ``liveness=True`` (typically :func:`heartbeat_check` on the worker loop); an orchestrator restarts
a process that fails it. *Readiness* ("can it take work?") is answered by every check: a failing critical check
makes the process unhealthy (not ready), a failing non-critical one only degraded (still ready).

A check is a callable without arguments returning a bool, or ``(bool, detail)``. It must return quickly: the
built-in ones bound their own I/O with timeouts. A check that raises leaves the state unknown, so it makes the
process unhealthy even when it is not critical.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from graflow.security.redaction import redact

# A worker loop that has not beaten for this long is considered stuck.
HEARTBEAT_MAX_AGE_SECONDS = 60.0

CheckFn = Callable[[], bool | tuple[bool, str]]


class HealthStatus(StrEnum):
    """Overall status of a process."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class HealthCheck:
    """A registered check."""

    name: str
    check_fn: CheckFn
    critical: bool = False
    liveness: bool = False


class HealthMonitor:
    """Runs named checks and sums them up.

    Example:
        >>> monitor = HealthMonitor()
        >>> monitor.register_check("redis", redis_ping_check(client), critical=True)  # doctest: +SKIP
        >>> monitor.get_health()["status"]  # doctest: +SKIP
        'healthy'
    """

    def __init__(self) -> None:
        self._checks: dict[str, HealthCheck] = {}
        self._lock = threading.Lock()

    def register_check(self, name: str, check_fn: CheckFn, critical: bool = False, *, liveness: bool = False) -> None:
        """Register (or replace) check ``name``.

        Args:
            name: Unique name; shown in the health report.
            check_fn: Returns True when healthy, or ``(healthy, detail)``.
            critical: A failure makes the whole process unhealthy (not ready) instead of degraded.
            liveness: Also use this check for liveness (``/healthz``).
        """
        with self._lock:
            self._checks[name] = HealthCheck(name, check_fn, critical, liveness)

    def unregister_check(self, name: str) -> None:
        """Remove check ``name`` if registered."""
        with self._lock:
            self._checks.pop(name, None)

    @property
    def check_names(self) -> list[str]:
        """Names of the registered checks, in registration order."""
        with self._lock:
            return list(self._checks)

    def get_health(self) -> dict[str, Any]:
        """Run every check.

        Returns:
            ``{"status": "healthy"|"degraded"|"unhealthy", "checks": {name: {"status": "ok"|"fail"|"error",
            "critical": bool, "duration_seconds": float, "detail"?: str, "error"?: str, "error_type"?: str}},
            "timestamp": iso8601}``. A failing check makes the status ``unhealthy`` when it is critical, else
            ``degraded``. A check that raises is ``{"status": "error", "error": <message>}`` (``error_type`` names
            the exception) and makes the status ``unhealthy`` whether it is critical or not.
        """
        with self._lock:
            checks = list(self._checks.values())
        return self._report(checks)

    def get_liveness(self) -> dict[str, Any]:
        """Run only the liveness checks (same shape as :meth:`get_health`; no liveness checks means healthy)."""
        with self._lock:
            checks = [c for c in self._checks.values() if c.liveness]
        # Liveness is all-or-nothing: any failing liveness check means the process should be restarted.
        return self._report([HealthCheck(c.name, c.check_fn, True, True) for c in checks])

    def is_ready(self) -> bool:
        """Whether no critical check fails (degraded still counts as ready)."""
        return bool(self.get_health()["status"] != HealthStatus.UNHEALTHY.value)

    def is_alive(self) -> bool:
        """Whether every liveness check passes."""
        return bool(self.get_liveness()["status"] == HealthStatus.HEALTHY.value)

    @staticmethod
    def _report(checks: list[HealthCheck]) -> dict[str, Any]:
        status = HealthStatus.HEALTHY
        results: dict[str, dict[str, Any]] = {}
        for check in checks:
            entry: dict[str, Any] = {"critical": check.critical}
            started = time.perf_counter()
            try:
                outcome = check.check_fn()
                healthy, detail = outcome if isinstance(outcome, tuple) else (outcome, None)
                entry["status"] = "ok" if healthy else "fail"
                if detail:
                    entry["detail"] = str(detail)
            except Exception as exc:  # a check that raises fails the report's status, never the report itself
                healthy = False
                entry["status"] = "error"
                # The report is served over HTTP: credentials in the message (a URL's password) are masked.
                entry["error"] = redact(str(exc)) or type(exc).__name__
                entry["error_type"] = type(exc).__name__
            entry["duration_seconds"] = round(time.perf_counter() - started, 6)
            results[check.name] = entry
            if entry["status"] == "error":
                # A check that cannot even answer leaves the state unknown: unhealthy, critical or not.
                status = HealthStatus.UNHEALTHY
            elif not healthy:
                if check.critical:
                    status = HealthStatus.UNHEALTHY
                elif status is HealthStatus.HEALTHY:
                    status = HealthStatus.DEGRADED
        return {
            "status": status.value,
            "checks": results,
            "timestamp": datetime.now(UTC).isoformat(),
        }


# -- built-in checks --------------------------------------------------------------------------------------------------
class Heartbeat:
    """A timestamp a loop refreshes on every turn; :func:`heartbeat_check` reads its age.

    Uses the monotonic clock, so wall-clock jumps never make a live loop look dead.
    """

    __slots__ = ("_clock", "_last")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        """Record that the loop is alive now."""
        self._last = self._clock()

    @property
    def age(self) -> float:
        """Seconds since the last beat."""
        return self._clock() - self._last


def heartbeat_check(heartbeat: Heartbeat, max_age: float = HEARTBEAT_MAX_AGE_SECONDS) -> CheckFn:
    """A check that passes while ``heartbeat`` beat within the last ``max_age`` seconds (worker loop alive)."""

    def check() -> tuple[bool, str]:
        age = heartbeat.age
        return age <= max_age, f"last heartbeat {age:.1f}s ago (max {max_age:.0f}s)"

    return check


def redis_ping_check(client: Any) -> CheckFn:
    """A check that passes when ``client`` (a redis-py client) answers PING.

    Give the client a ``socket_timeout`` so that an unreachable server fails the check instead of hanging it.
    """

    def check() -> bool:
        return bool(client.ping())

    return check


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def consumer_group_check(client: Any, stream: str, group: str, consumer: str | None = None) -> CheckFn:
    """A check that passes when consumer group ``group`` exists on ``stream`` (and has ``consumer``, if given).

    A missing stream or group fails the check with a detail saying which.
    """

    def check() -> tuple[bool, str]:
        try:
            groups = client.xinfo_groups(stream)
        except Exception as exc:  # redis.ResponseError when the stream does not exist
            return False, f"stream {stream!r} unavailable: {exc}"
        names = {_text(g.get("name", g.get(b"name", ""))) for g in groups}
        if group not in names:
            return False, f"group {group!r} not on stream {stream!r}"
        if consumer is None:
            return True, f"group {group!r} on stream {stream!r}"
        consumers = client.xinfo_consumers(stream, group)
        members = {_text(c.get("name", c.get(b"name", ""))) for c in consumers}
        if consumer not in members:
            return False, f"consumer {consumer!r} not in group {group!r}"
        return True, f"consumer {consumer!r} in group {group!r}"

    return check


def disk_writable_check(directory: str | os.PathLike[str]) -> CheckFn:
    """A check that passes when a file can be created, written, flushed to disk and removed in ``directory``.

    The directory is not created: a missing checkpoint directory is a configuration problem worth reporting.
    """
    path = os.fspath(directory)

    def check() -> tuple[bool, str]:
        if not os.path.isdir(path):
            return False, f"{path} is not a directory"
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".graflow-health-", delete=True) as handle:
                handle.write(b"ok")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            return False, f"{path} not writable: {exc.strerror or exc}"
        return True, f"{path} writable"

    return check


__all__ = [
    "HEARTBEAT_MAX_AGE_SECONDS",
    "HealthCheck",
    "HealthMonitor",
    "HealthStatus",
    "Heartbeat",
    "consumer_group_check",
    "disk_writable_check",
    "heartbeat_check",
    "redis_ping_check",
]
