"""Where the run store lives and how often runs say they are alive: defaults and their environment variables.

Values are read when asked for, through :func:`graflow.config.env`, so tests and long-lived processes see changes.

Environment variables:

``GRAFLOW_RUN_STORE``
    Record every run of ``workflow(...).execute()`` into this store: ``sqlite:///path``, ``postgresql://...`` or
    ``memory://``. Unset: runs are not recorded unless ``workflow(name, run_store=...)`` asks for it.
``GRAFLOW_HOME``
    Folder of the embedded default store, ``runs.db`` (default ``~/.graflow``).
``GRAFLOW_RUN_HEARTBEAT_SECONDS``
    How often a running run writes a heartbeat (default 10). A run whose heartbeat is older than
    :data:`MISSED_HEARTBEATS` intervals is reported as ``crashed``.
"""

from __future__ import annotations

from pathlib import Path

from graflow.config import env
from graflow.exceptions import ConfigError

#: Heartbeat interval of a running run, in seconds.
HEARTBEAT_SECONDS = 10.0
#: A running run whose last heartbeat is older than this many intervals is reported as crashed.
MISSED_HEARTBEATS = 3
#: How often the writer thread wakes to write what the engine queued, in seconds (a run's end wakes it at once).
FLUSH_SECONDS = 0.5
#: Events the writer may have waiting; past it new events are dropped and counted, so the engine never blocks.
MAX_QUEUED_EVENTS = 100_000
#: Events written in one transaction.
MAX_BATCH_EVENTS = 5_000
#: Length of a result or parameter preview (``repr`` cut to this many characters).
PREVIEW_CHARS = 200
#: Channel keys kept as a run's parameters.
MAX_PARAMETERS = 50
#: Characters of a traceback kept (its tail, where the error is).
MAX_TRACEBACK_CHARS = 8_000
#: How long interpreter exit waits for the writer to write what is queued, in seconds.
EXIT_FLUSH_SECONDS = 5.0
#: How often a recorder reads the cancel requests of the runs it records (``graflow cancel``), in seconds.
CANCEL_POLL_SECONDS = 0.5
#: Default page size of ``list_runs``.
DEFAULT_PAGE_SIZE = 50


def graflow_home() -> Path:
    """The folder of Graflow's local state (``GRAFLOW_HOME``, default ``~/.graflow``)."""
    return Path(env("GRAFLOW_HOME") or Path.home() / ".graflow").expanduser()


def default_store_url() -> str:
    """``GRAFLOW_RUN_STORE`` when set, else the embedded SQLite file ``$GRAFLOW_HOME/runs.db``."""
    return configured_store_url() or f"sqlite:///{graflow_home() / 'runs.db'}"


def configured_store_url() -> str | None:
    """``GRAFLOW_RUN_STORE``, or None when runs are not recorded by default."""
    return (env("GRAFLOW_RUN_STORE") or "").strip() or None


def heartbeat_seconds() -> float:
    """``GRAFLOW_RUN_HEARTBEAT_SECONDS`` (default :data:`HEARTBEAT_SECONDS`).

    Raises:
        ConfigError: The value is not a positive number.
    """
    raw = env("GRAFLOW_RUN_HEARTBEAT_SECONDS")
    if raw is None or not raw.strip():
        return HEARTBEAT_SECONDS
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"GRAFLOW_RUN_HEARTBEAT_SECONDS must be a number of seconds, not {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"GRAFLOW_RUN_HEARTBEAT_SECONDS must be positive, not {raw!r}")
    return value


__all__ = [
    "CANCEL_POLL_SECONDS",
    "DEFAULT_PAGE_SIZE",
    "HEARTBEAT_SECONDS",
    "MISSED_HEARTBEATS",
    "configured_store_url",
    "default_store_url",
    "graflow_home",
    "heartbeat_seconds",
]
