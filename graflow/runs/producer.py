"""``ProducerRecord``: the record of a run that other processes run, kept by the process that submitted it.

A run submitted to Redis workers (``graflow run --redis-url``) has no engine in the submitting process, so no
recorder sees it start or end. The producer records it itself: created as ``running`` when submitted, a heartbeat
while it waits (so a producer that dies leaves the run ``crashed``, not ``running``), and how it ended. While
waiting it reads the run's cancel request (``graflow cancel``), which only the producer can act on unless the
workers record runs too.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graflow.runs import settings
from graflow.runs.base import RunStore
from graflow.runs.factory import open_run_store
from graflow.runs.models import CancelRequest, RunRecord, expires_at, parameters_of, preview


class ProducerRecord:
    """The record of one run kept by its producer.

    Args:
        store: Where it is kept.
        record: The run as created (``running``, started now).
    """

    def __init__(self, store: RunStore, record: RunRecord) -> None:
        self.store = store
        self.record = record

    @classmethod
    @contextmanager
    def open(cls, url: str | RunStore | None, run_id: str, workflow: str, *, parameters: dict[str, Any],
             **fields: Any) -> Iterator[ProducerRecord]:
        """Record run ``run_id`` of ``workflow`` as running, in the store ``url`` names (closed afterwards).

        Args:
            url: A store or its URL (None: the default store).
            run_id: The run's id (its session id).
            workflow: The workflow's name.
            parameters: What the run starts with (kept bounded, like a recorder keeps them).
            **fields: More fields of the record (``spec``, ``retry_of``, ``invocation``).
        """
        store = open_run_store(url)
        try:
            now = time.time()
            record = RunRecord(run_id, workflow, "running", created_at=now, started_at=now, heartbeat_at=now,
                               expires_at=expires_at(now, settings.heartbeat_seconds()), host=socket.gethostname(),
                               pid=os.getpid(), parameters=parameters_of(parameters),
                               history=[["created", now], ["running", now]], **fields)
            store.create_run(record)
            yield cls(store, record)
        finally:
            if not isinstance(url, RunStore):
                store.close()

    def beat(self) -> CancelRequest | None:
        """Write a heartbeat; returns the run's cancel request when one was made since it started."""
        run_id = self.record.run_id
        self.store.heartbeat(run_id)
        request = self.store.cancel_requests([run_id]).get(run_id)
        started = self.record.started_at or 0.0
        return request if request is not None and request.requested_at >= started else None

    def end(self, status: str, result: Any = None, error: BaseException | None = None) -> None:
        """Record how the run ended: ``status``, its result's preview, its error with the traceback."""
        fields: dict[str, Any] = {"status": status, "ended_at": time.time(), "expires_at": None}
        if result is not None:
            fields["result_preview"] = preview(result)
        if error is not None:
            text = "".join(traceback.format_exception(error))
            fields.update(error_type=type(error).__name__, error_message=str(error),
                          traceback=text[-settings.MAX_TRACEBACK_CHARS:])
        self.store.update_run(self.record.run_id, **fields)


__all__ = ["ProducerRecord"]
