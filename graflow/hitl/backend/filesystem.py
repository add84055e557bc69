"""Feedback requests and responses as JSON files: ``<data_dir>/requests/<id>.json``, ``<data_dir>/responses/<id>.json``.

Every file is written to a temporary name in the same folder and renamed over the target, so a reader never sees a
half-written file and needs no lock. Writers and status transitions take an ``fcntl`` lock on ``<data_dir>/.lock``,
which makes :meth:`FilesystemFeedbackBackend.transition` atomic across processes sharing the folder. Nothing is
created until the first request or response is stored (D26).

Notifications reach waiters of the same process at once (the API server and a workflow in one process, or a thread
that answers); a waiter in another process notices an answer on its next read of the folder.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from graflow.hitl.backend.base import ChangeCallback, Changes, FeedbackBackend, apply_changes, matches, newest_first
from graflow.hitl.types import PENDING, FeedbackRequest, FeedbackResponse, is_valid_feedback_id, validate_feedback_id

logger = logging.getLogger(__name__)

_Record = TypeVar("_Record", FeedbackRequest, FeedbackResponse)

#: Marker in the names of temporary files (they also start with a dot, so listings skip them).
TEMP_MARKER = ".tmp-"

# Waiters of this process, by (resolved data_dir, feedback_id): publish() sets their events.
_local_waiters: dict[tuple[str, str], set[threading.Event]] = {}
_local_waiters_lock = threading.Lock()
# Watchers of this process, by resolved data_dir: publish() of any id calls them (guarded by the same lock).
_local_watchers: dict[str, list[ChangeCallback]] = {}


class FilesystemFeedbackBackend(FeedbackBackend):
    """Stores feedback as JSON files under ``data_dir``.

    Args:
        data_dir: Folder of the ``requests`` and ``responses`` sub-folders; created on the first write.
    """

    poll_interval = 0.1

    def __init__(self, data_dir: str | os.PathLike[str] = "feedback_data") -> None:
        self.data_dir = Path(data_dir)
        self.requests_dir = self.data_dir / "requests"
        self.responses_dir = self.data_dir / "responses"

    # -- storage --------------------------------------------------------------------------------------------------
    def store_request(self, request: FeedbackRequest) -> None:
        """Write the request file (atomically, under the folder lock)."""
        path = self._path(self.requests_dir, validate_feedback_id(request.feedback_id))
        with self._locked():
            _write_atomic(path, request.to_json())

    def get_request(self, feedback_id: str) -> FeedbackRequest | None:
        """Read the request file, or None when there is none (or it cannot be read)."""
        if not is_valid_feedback_id(feedback_id):
            return None
        return _read(self._path(self.requests_dir, feedback_id), FeedbackRequest.from_json)

    def store_response(self, response: FeedbackResponse) -> None:
        """Write the response file (atomically, under the folder lock)."""
        path = self._path(self.responses_dir, validate_feedback_id(response.feedback_id))
        with self._locked():
            _write_atomic(path, response.to_json())

    def get_response(self, feedback_id: str) -> FeedbackResponse | None:
        """Read the response file, or None."""
        if not is_valid_feedback_id(feedback_id):
            return None
        return _read(self._path(self.responses_dir, feedback_id), FeedbackResponse.from_json)

    def list_pending_requests(self, session_id: str | None = None) -> list[FeedbackRequest]:
        """Pending requests, newest first."""
        return newest_first([r for r in self._all_requests() if matches(r, session_id, PENDING)])

    def list_requests(self, session_id: str | None = None, n_recent: int = 100) -> list[FeedbackRequest]:
        """Requests of every status, newest first, at most ``n_recent``."""
        return newest_first([r for r in self._all_requests() if matches(r, session_id)], n_recent)

    def transition(
        self,
        feedback_id: str,
        allowed: Collection[str],
        status: str | None,
        *,
        response: FeedbackResponse | None = None,
        changes: Changes = None,
    ) -> FeedbackRequest | None:
        """Atomic across processes: the check and both writes happen under the folder lock."""
        if not is_valid_feedback_id(feedback_id) or not self.data_dir.is_dir():
            return None
        with self._locked():
            request = self.get_request(feedback_id)
            if request is None or request.status not in allowed:
                return None
            updated = apply_changes(request, status, changes)
            if updated is None:
                return None
            if response is not None:
                # The response first: a waiter that sees it returns it, whatever the request file says meanwhile.
                _write_atomic(self._path(self.responses_dir, feedback_id), response.to_json())
            _write_atomic(self._path(self.requests_dir, feedback_id), updated.to_json())
            return updated

    # -- notifications (within this process) ----------------------------------------------------------------------
    def publish(self, feedback_id: str) -> None:
        """Wake the waiters of ``feedback_id`` and tell the watchers of this folder, in this process."""
        key = self._waiter_key(feedback_id)
        with _local_waiters_lock:
            events = list(_local_waiters.get(key, ()))
            watchers = list(_local_watchers.get(key[0], ()))
        for event in events:
            event.set()
        for on_change in watchers:
            try:
                on_change(feedback_id)
            except Exception:  # a watcher's failure must not fail the answer that was just stored
                logger.exception("Feedback watcher %r failed", on_change)

    def start_watcher(self, on_change: ChangeCallback) -> threading.Thread | None:
        """Call ``on_change`` on every :meth:`publish` to this folder in this process (no thread; returns None).

        Another process's answers are not announced: a watcher finds them on its next read of the folder.
        """
        with _local_waiters_lock:
            _local_watchers.setdefault(os.path.realpath(self.data_dir), []).append(on_change)
        return None

    def stop_watcher(self, on_change: ChangeCallback) -> None:
        """Forget ``on_change``."""
        key = os.path.realpath(self.data_dir)
        with _local_waiters_lock:
            watchers = _local_watchers.get(key, [])
            if on_change in watchers:
                watchers.remove(on_change)
            if not watchers:
                _local_watchers.pop(key, None)

    def start_listener(self, feedback_id: str, notification_event: threading.Event) -> threading.Thread | None:
        """Register ``notification_event`` for :meth:`publish` in this process; no thread is needed (returns None)."""
        with _local_waiters_lock:
            _local_waiters.setdefault(self._waiter_key(feedback_id), set()).add(notification_event)
        return None

    def stop_listener(self, feedback_id: str, notification_event: threading.Event) -> None:
        """Forget ``notification_event``."""
        key = self._waiter_key(feedback_id)
        with _local_waiters_lock:
            events = _local_waiters.get(key)
            if events is not None:
                events.discard(notification_event)
                if not events:
                    del _local_waiters[key]

    # -- helpers ----------------------------------------------------------------------------------------------------
    def _waiter_key(self, feedback_id: str) -> tuple[str, str]:
        return (os.path.realpath(self.data_dir), feedback_id)

    @staticmethod
    def _path(folder: Path, feedback_id: str) -> Path:
        return folder / f"{feedback_id}.json"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # flock locks belong to the open file description, so they exclude other threads of this process as well.
        self.requests_dir.mkdir(parents=True, exist_ok=True)
        self.responses_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _all_requests(self) -> list[FeedbackRequest]:
        try:
            names = os.listdir(self.requests_dir)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.startswith(".") or not name.endswith(".json"):
                continue
            request = _read(self.requests_dir / name, FeedbackRequest.from_json)
            if request is not None:
                found.append(request)
        return found


def _read(path: Path, parse: Callable[[bytes], _Record]) -> _Record | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return parse(data)
    except ValueError as exc:  # json and pydantic errors both derive from ValueError
        logger.warning("Skipping unreadable feedback file %s: %s", path, exc)
        return None


def _write_atomic(path: Path, text: str) -> None:
    temp = path.parent / f".{path.name}{TEMP_MARKER}{secrets.token_hex(6)}"
    # O_EXCL with mode 0o666 lets the umask decide the permissions, as a plain open() would.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


__all__ = ["FilesystemFeedbackBackend", "TEMP_MARKER"]
