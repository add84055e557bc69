"""The run store as the API reaches it: opened once, on first use, and turned into ``503`` answers while it is down.

``python -m graflow.api`` serves the runs API too, on the default run store (``GRAFLOW_RUN_STORE``, else
``$GRAFLOW_HOME/runs.db`` when it exists), but a feedback server must keep working where there is no store or it
cannot be opened (the ``runs`` extra is not installed, the database is down): nothing is opened until a request
needs the store, a failure to open is retried by the next request that needs it, and the default SQLite file is
never created by it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from graflow.api.errors import ApiError, unavailable

if TYPE_CHECKING:
    from graflow.runs.base import RunStore

logger = logging.getLogger(__name__)


class StoreHandle:
    """A run store opened on first use.

    Args:
        url_or_store: A store, a store URL, or None for the default store (``open_run_store(None)``).
        create_default: With ``url_or_store`` None and no ``GRAFLOW_RUN_STORE``: create the default SQLite file
            when it is missing (False: answer 503 until something else, ``graflow run`` say, has created it).
    """

    def __init__(self, url_or_store: Any = None, *, create_default: bool = True) -> None:
        self._spec = url_or_store
        self._create_default = create_default
        self._store: RunStore | None = None
        self._lock = threading.Lock()
        self._owned = not _is_store(url_or_store)

    @property
    def opened(self) -> RunStore | None:
        """The store if it has been opened, else None (opens nothing)."""
        return self._store

    def get(self) -> RunStore:
        """The store, opened now if it was not.

        Raises:
            ApiError: 503 when it cannot be opened (the message says why).
        """
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                self._store = self._open()
            return self._store

    def _open(self) -> RunStore:
        try:
            from graflow.runs import open_run_store
            from graflow.runs.settings import configured_store_url, graflow_home

            if self._spec is None and not self._create_default and configured_store_url() is None:
                default = graflow_home() / "runs.db"
                if not default.exists():
                    raise unavailable(f"No run store: set GRAFLOW_RUN_STORE (the default {default} does not exist)")
            return open_run_store(self._spec)
        except ApiError:
            raise
        except ImportError as exc:
            raise unavailable(f"The run store is not available: {exc}") from exc
        except Exception as exc:  # a database that does not answer, a bad URL: the next request tries again
            logger.warning("Cannot open the run store: %s", exc)
            raise unavailable(f"The run store cannot be opened: {exc}") from exc

    def close(self) -> None:
        """Close the store if this handle opened it from a URL."""
        with self._lock:
            store, self._store = self._store, None
        if store is not None and self._owned:
            store.close()


def _is_store(value: Any) -> bool:
    return value is not None and not isinstance(value, str)


def store_call(action: str, call: Any, /, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)`` with the run store's errors turned into answers: a bad argument (cursor, limit,
    status) is 400, anything else the store raises is 503.

    Raises:
        ApiError: As above.
    """
    from graflow.runs.errors import RunStoreClosedError, RunStoreError

    try:
        return call(*args, **kwargs)
    except ApiError:
        raise
    except RunStoreClosedError as exc:
        raise unavailable(f"Could not {action}: the run store is closed") from exc
    except RunStoreError as exc:
        if exc.cause is None:  # raised by the store's own checks, not by the database
            raise ApiError(400, str(exc)) from exc
        raise unavailable(f"Could not {action}: {exc}") from exc


__all__ = ["StoreHandle", "store_call"]
