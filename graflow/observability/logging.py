"""Structured logging: JSON lines (or text) carrying the workflow, session, task, trace and worker of each record.

One switch turns it on: ``GRAFLOW_LOG_FORMAT=json`` (read by :func:`configure_logging`, which the CLI and workers
call), or ``configure_logging(format="json")`` in your own program. The fields come from context variables that
:class:`LoggingHook` sets when a workflow or task starts and restores when it ends, and that workers set with
:func:`set_worker_id`, so every log call made inside a task, library code included, is tagged without passing
anything around. Credentials in messages, exceptions and extra fields are masked with
:func:`graflow.security.redaction.redact`.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from graflow import config
from graflow.core.hooks import EngineHook
from graflow.exceptions import ConfigError
from graflow.security.redaction import redact, redact_mapping

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext

FORMATS = ("json", "text")
DEFAULT_LEVEL = "INFO"
TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
CONTEXT_FIELDS = ("workflow", "session_id", "task_id", "trace_id", "worker_id")
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_HANDLER_MARK = "_graflow_handler"


class LogContext(NamedTuple):
    """The run a log record belongs to."""

    workflow: str | None = None
    session_id: str | None = None
    task_id: str | None = None
    trace_id: str | None = None


_EMPTY = LogContext()
_log_context: ContextVar[LogContext] = ContextVar("graflow_log_context", default=_EMPTY)
_worker_id: ContextVar[str | None] = ContextVar("graflow_worker_id", default=None)
# Fallback for threads that did not inherit the worker's context (pool threads started before set_worker_id).
_process_worker_id: str | None = None


def set_worker_id(worker_id: str | None) -> None:
    """Tag every later record of this process (and of the current context) with ``worker_id``."""
    global _process_worker_id
    _process_worker_id = worker_id
    _worker_id.set(worker_id)


def current_log_context() -> dict[str, str | None]:
    """The fields the next log record of this context will carry."""
    ctx = _log_context.get()
    return {**ctx._asdict(), "worker_id": _worker_id.get() or _process_worker_id}


def bind_log_context(**fields: str | None) -> Token[LogContext]:
    """Set some of ``workflow``, ``session_id``, ``task_id``, ``trace_id`` for this context; returns a reset token.

    Raises:
        ConfigError: An unknown field name.
    """
    unknown = set(fields) - set(LogContext._fields)
    if unknown:
        raise ConfigError(f"Unknown log context fields {sorted(unknown)}; known: {list(LogContext._fields)}")
    return _log_context.set(_log_context.get()._replace(**fields))


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Bind log fields for the duration of a ``with`` block."""
    token = bind_log_context(**fields)
    try:
        yield
    finally:
        _log_context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the context fields onto each record (``%(task_id)s`` etc. work in any format string).

    A field passed explicitly with ``extra=`` wins over the context.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields; never drops a record."""
        ctx = _log_context.get()
        values = (ctx.workflow, ctx.session_id, ctx.task_id, ctx.trace_id, _worker_id.get() or _process_worker_id)
        for name, value in zip(CONTEXT_FIELDS, values, strict=True):
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def _json_default(value: Any) -> str:
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``timestamp``, ``level``, ``logger``, ``message``, the context fields, the
    exception text (``exception``) and any ``extra=`` fields, with credentials masked."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        ContextFilter().filter(record)
        payload: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            payload[name] = getattr(record, name, None)
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            payload["exception"] = redact(record.exc_text)
        if record.stack_info:
            payload["stack"] = redact(self.formatStack(record.stack_info))
        extra = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and k not in payload}
        if extra:
            payload.update(redact_mapping(extra))
        return json.dumps(payload, default=_json_default, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Classic text lines, with a ``[workflow=… task=… …]`` suffix when a context is bound and credentials masked."""

    def __init__(self, fmt: str = TEXT_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as text."""
        ContextFilter().filter(record)
        text = super().format(record)
        tags = " ".join(f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if getattr(record, name, None))
        if tags:
            first, sep, rest = text.partition("\n")
            text = f"{first} [{tags}]{sep}{rest}"
        return redact(text)


def configure_logging(
    format: str | None = None,  # noqa: A002 - the switch's public name
    level: str | int | None = None,
    *,
    stream: IO[str] | None = None,
    logger_name: str = "",
) -> logging.Handler:
    """Install one handler with Graflow's formatter on ``logger_name`` (the root logger by default).

    Calling it again replaces the handler it installed before, so it is safe to call from both a CLI and a worker.

    Args:
        format: ``json`` or ``text``; default ``GRAFLOW_LOG_FORMAT`` (``text`` when unset).
        level: Level name or number; default ``GRAFLOW_LOG_LEVEL`` (``INFO`` when unset).
        stream: Where lines go (default ``sys.stderr``).
        logger_name: The logger to configure.

    Returns:
        The installed handler.

    Raises:
        ConfigError: Unknown format or level.
    """
    chosen = (format or config.log_format()).strip().lower()
    if chosen not in FORMATS:
        raise ConfigError(f"Unknown log format {chosen!r}; use one of {list(FORMATS)} (GRAFLOW_LOG_FORMAT)")
    level_value = level if level is not None else (config.env("GRAFLOW_LOG_LEVEL") or DEFAULT_LEVEL)
    if isinstance(level_value, str):
        resolved = logging.getLevelName(level_value.strip().upper())
        if not isinstance(resolved, int):
            raise ConfigError(f"Unknown log level {level_value!r} (GRAFLOW_LOG_LEVEL)")
        level_value = resolved
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    setattr(handler, _HANDLER_MARK, True)
    target = logging.getLogger(logger_name)
    for old in [h for h in target.handlers if getattr(h, _HANDLER_MARK, False)]:
        target.removeHandler(old)
        old.close()
    target.addHandler(handler)
    target.setLevel(level_value)
    return handler


class LoggingHook(EngineHook):
    """Engine hook that binds the log context while workflows and tasks run.

    Args:
        log_events: Also log task start/end/retry lines (INFO for failures and retries, DEBUG otherwise) on the
            ``graflow.events`` logger.
    """

    def __init__(self, log_events: bool = False) -> None:
        self.log_events = log_events
        self._events = logging.getLogger("graflow.events")
        self._local = threading.local()

    def _tokens(self) -> list[Token[LogContext]]:
        tokens: list[Token[LogContext]] | None = getattr(self._local, "tokens", None)
        if tokens is None:
            tokens = self._local.tokens = []
        return tokens

    @staticmethod
    def _fields(context: Any, task_id: str | None) -> LogContext:
        return LogContext(
            workflow=getattr(context, "workflow_name", None),
            session_id=getattr(context, "session_id", None),
            task_id=task_id,
            trace_id=getattr(context, "trace_id", None),
        )

    def _push(self, fields: LogContext) -> None:
        self._tokens().append(_log_context.set(fields))

    def _pop(self) -> None:
        tokens = self._tokens()
        if not tokens:
            return
        token = tokens.pop()
        try:
            _log_context.reset(token)
        except ValueError:  # ended in another context than it started: restore the value by hand
            _log_context.set(token.old_value if token.old_value is not Token.MISSING else _EMPTY)

    def on_workflow_start(self, *, workflow_name: str, context: ExecutionContext) -> None:
        """Bind workflow, session and trace ids."""
        self._push(self._fields(context, None)._replace(workflow=workflow_name))

    def on_workflow_end(
        self, *, workflow_name: str, context: ExecutionContext, result: Any = None, error: BaseException | None = None
    ) -> None:
        """Restore the context of before the run."""
        self._pop()

    def on_task_start(self, *, task: Any, context: ExecutionContext) -> None:
        """Bind the task id (and the run's ids: a task may run on a pool thread)."""
        self._push(self._fields(context, task.task_id))
        if self.log_events and self._events.isEnabledFor(logging.DEBUG):
            self._events.debug("Task %s started", task.task_id)

    def on_task_end(
        self, *, task: Any, context: ExecutionContext, result: Any = None, error: BaseException | None = None
    ) -> None:
        """Log the outcome (if asked) and unbind the task id."""
        if self.log_events:
            if error is not None:
                self._events.info("Task %s failed: %s", task.task_id, error)
            elif self._events.isEnabledFor(logging.DEBUG):
                self._events.debug("Task %s succeeded", task.task_id)
        self._pop()

    def on_task_retry(
        self, *, task: Any, context: ExecutionContext, attempt: int, delay: float, error: BaseException
    ) -> None:
        """Log the retry (if asked)."""
        if self.log_events:
            self._events.info("Task %s retry %d in %.2fs after: %s", task.task_id, attempt, delay, error)


__all__ = [
    "ContextFilter",
    "JsonFormatter",
    "LogContext",
    "LoggingHook",
    "TextFormatter",
    "bind_log_context",
    "configure_logging",
    "current_log_context",
    "log_context",
    "set_worker_id",
]
