"""Distributed runs started through the API: submitted to the workers, watched by the server until they end.

The run's parameters are written to its Redis channel before it is queued (the worker's context reads them there,
as a local run reads its seeded channel), then :func:`~graflow.distributed.submit.submit_workflow` queues its start
node. The server records the run itself (``created`` while no worker has taken it, ``running`` once one has, then
how it ended), because a worker records task attempts only when it runs with a recorder of its own
(``TaskWorker(hooks=[RunRecorder(url)])``). A watcher thread per run waits for the outcome on the run's barrier.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from graflow import defaults
from graflow.api.redis_link import RedisLink, errors
from graflow.api.store import store_call
from graflow.exceptions import GraflowError
from graflow.runs.models import RunRecord, parameters_of, preview

if TYPE_CHECKING:
    from graflow.api.workflows import RegisteredWorkflow
    from graflow.runs.base import RunStore

logger = logging.getLogger(__name__)

#: Seconds of each wait of a watcher on its run (between two checks whether a worker has taken it).
WATCH_SLICE_SECONDS = 1.0


class RemoteRuns:
    """Submits runs to the workers of the server's Redis and records how they end.

    Args:
        redis: The server's Redis.
    """

    def __init__(self, redis: RedisLink) -> None:
        self.redis = redis
        self._stopping = threading.Event()

    def submit(self, registered: RegisteredWorkflow, parameters: dict[str, Any], store: RunStore, *,
               invocation: dict[str, Any], retry_of: str | None = None) -> str:
        """Queue a run of ``registered``; returns its id once it is recorded and queued.

        Raises:
            ApiError: 400 without Redis; 503 Redis or the store does not answer.
        """
        from graflow.channels.redis_channel import RedisChannel
        from graflow.distributed.submit import submit_workflow

        self.redis.require("A distributed run")
        client = self.redis.client()
        run_id = uuid.uuid4().hex
        record = RunRecord(run_id, registered.name, "created", parameters=parameters_of(parameters),
                           host=socket.gethostname(), pid=os.getpid(), spec=registered.spec, retry_of=retry_of,
                           invocation=invocation)
        with errors("queue the run"):
            channel = RedisChannel(run_id, redis_client=client, key_prefix=self.redis.key_prefix,
                                   default_ttl=defaults.RESULT_TTL_SECONDS)
            for key, value in parameters.items():
                channel.set(key, value)
            store_call("record the run", store.create_run, record)
            try:
                handle = submit_workflow(registered.workflow, registered.start_node, redis_client=client,
                                         key_prefix=self.redis.key_prefix, wait=False, session_id=run_id,
                                         no_worker_warning_after=None)
            except Exception as exc:  # recorded, but never queued: it ended before it began
                self._update(store, run_id, status="failed", ended_at=time.time(), error_type=type(exc).__name__,
                             error_message=f"could not be queued: {exc}")
                raise
        threading.Thread(target=self._watch, args=(handle, store), name=f"graflow-watch-{run_id[:12]}",
                         daemon=True).start()
        return run_id

    def _watch(self, handle: Any, store: RunStore) -> None:
        from graflow.distributed.submit import WorkflowRunTimeoutError

        run_id, status = handle.session_id, "created"
        while not self._stopping.is_set():
            try:
                value = handle.result(WATCH_SLICE_SECONDS)
            except WorkflowRunTimeoutError:
                if status == "created" and handle.taken():
                    status = "running"
                    self._update(store, run_id, status=status, started_at=time.time())
                continue
            except GraflowError as exc:
                cause = exc.cause if exc.cause is not None else exc
                self._ended(store, run_id, status, "failed", error_type=type(cause).__name__,
                            error_message=str(exc)[:8000])
                return
            except Exception as exc:  # Redis went away: the run may still end; say so and stop watching
                logger.warning("Stopped watching distributed run %s: %s", run_id, exc)
                return
            self._ended(store, run_id, status, "completed", result_preview=preview(value))
            return

    def _ended(self, store: RunStore, run_id: str, was: str, status: str, **changes: Any) -> None:
        now = time.time()
        if was == "created":  # it ended within the first wait: it started then too
            changes["started_at"] = now
        self._update(store, run_id, status=status, ended_at=now, **changes)

    @staticmethod
    def _update(store: RunStore, run_id: str, **changes: Any) -> None:
        try:
            store.update_run(run_id, **changes)
        except Exception as exc:
            logger.warning("Could not record the state of distributed run %s: %s", run_id, exc)

    def open(self) -> None:
        """Watch the runs submitted from now on."""
        self._stopping.clear()

    def shutdown(self) -> None:
        """Stop watching (the runs go on on the workers; their end is not recorded by this server then)."""
        self._stopping.set()


__all__ = ["RemoteRuns", "WATCH_SLICE_SECONDS"]
