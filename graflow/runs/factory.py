"""Opening run stores by URL, and the one recorder per store that the runs of a process share."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from graflow.runs import settings
from graflow.runs.base import RunStore
from graflow.runs.errors import RunStoreError
from graflow.runs.memory import MemoryRunStore

_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg", "memory")
_lock = threading.Lock()
_memory_stores: dict[str, MemoryRunStore] = {}
_recorders: dict[Any, Any] = {}


def open_run_store(url_or_store: str | RunStore | None = None, **options: Any) -> RunStore:
    """The run store ``url_or_store`` names.

    Args:
        url_or_store: A store (returned as it is), or a URL:

            - ``sqlite:///path/to/runs.db``: an SQLite file (created, with its folder, when missing);
            - ``postgresql://user@host:5432/db``: PostgreSQL through psycopg 3
              (``?options=-csearch_path%3Dschema`` keeps the tables in one schema);
            - ``memory://`` or ``memory://name``: the in-memory store of that name in this process.

            None: ``GRAFLOW_RUN_STORE``, else ``sqlite:///$GRAFLOW_HOME/runs.db`` (``~/.graflow/runs.db``).
        **options: More arguments of ``sqlalchemy.create_engine`` (SQL stores only).

    Returns:
        The store, its schema migrated to the newest revision. Close it when done (a store from a ``memory://`` URL
        is shared by name: closing it makes the next open start afresh).

    Raises:
        RunStoreError: An unknown scheme, or a database that cannot be reached or migrated.
        ImportError: The SQL stores need ``pip install 'graflow[runs]'``.
    """
    if isinstance(url_or_store, RunStore):
        return url_or_store
    url = (url_or_store or settings.default_store_url()).strip()
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return memory_store(url[len("memory://"):] if url.lower().startswith("memory://") else "")
    if scheme not in _SCHEMES:
        raise RunStoreError(f"Unknown run store URL {url!r}; use sqlite:///path, postgresql://... or memory://")
    try:
        from graflow.runs.sql import SqlRunStore
    except ImportError as exc:
        raise ImportError(f"The SQL run stores need SQLAlchemy, Alembic and psycopg: pip install 'graflow[runs]' "
                          f"({exc})") from exc
    return SqlRunStore(url, **options)


def memory_store(name: str = "") -> MemoryRunStore:
    """The in-memory store called ``name`` in this process (made on first use, and again after it was closed)."""
    with _lock:
        store = _memory_stores.get(name)
        if store is None or store._closed:
            store = _memory_stores[name] = MemoryRunStore()
        return store


def recorder_for(url_or_store: str | RunStore, **options: Any) -> Any:
    """The :class:`~graflow.runs.recorder.RunRecorder` of this process that writes to ``url_or_store``.

    Every run recorded into one store shares one recorder, one writer thread and one store connection, so a run
    does not pay for opening the store. ``workflow(name, run_store=...)`` and ``GRAFLOW_RUN_STORE`` come here
    (through the core registry's ``run_store``/``recorder`` entry).

    Args:
        url_or_store: A store or a URL for :func:`open_run_store`.
        **options: Arguments of ``RunRecorder`` (``worker_id`` ...) used when the recorder is made.
    """
    from graflow.runs.recorder import RunRecorder

    key: Any = url_or_store.strip() if isinstance(url_or_store, str) else id(url_or_store)
    with _lock:
        recorder = _recorders.get(key)
        if recorder is not None and not recorder.closed:
            return recorder
    recorder = RunRecorder(url_or_store, **options)
    with _lock:
        current = _recorders.get(key)
        if current is not None and not current.closed:  # another thread made one meanwhile
            recorder.close()
            return current
        _recorders[key] = recorder
        return recorder


def close_recorders(timeout: float | None = None) -> None:
    """Flush and close every recorder :func:`recorder_for` made (tests; interpreter exit does it by itself)."""
    with _lock:
        recorders = list(_recorders.values())
        _recorders.clear()
    for recorder in recorders:
        recorder.close(timeout)


__all__ = ["close_recorders", "memory_store", "open_run_store", "recorder_for"]
