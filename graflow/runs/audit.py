"""The audit log kept next to the runs: who changed what, and when, through the HTTP API.

Every mutating call the API accepts from a known caller (start, cancel or retry a run, answer a question, requeue a
dead letter ...) becomes one :class:`AuditEntry`. The caller is named by its role and a short fingerprint of its
token, never by the token itself. Entries are listed newest first and paged by keyset, like runs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graflow.runs.models import check_limit, cursor_for, decode_cursor


@dataclass
class AuditEntry:
    """One mutating call.

    Attributes:
        entry_id: Unique id of the entry.
        at: When the call was answered (seconds since the epoch).
        role: The caller's role (``operator``, ``viewer``; ``anonymous`` on a server without tokens).
        token_fingerprint: A short, one-way fingerprint of the caller's token (None without tokens).
        method: The HTTP method.
        path: The request path.
        action: What was asked for, e.g. ``run.start``, ``run.cancel``, ``dead_letter.requeue``.
        target: The id of what it acted on (a run, a feedback request, a dead letter), when there is one.
        status_code: The HTTP status of the answer.
        idempotency_key: The ``Idempotency-Key`` the call carried, if any.
        detail: More about the call (parameters of a started run, the run it started ...), as JSON.
    """

    action: str
    role: str
    method: str = ""
    path: str = ""
    status_code: int = 0
    target: str | None = None
    token_fingerprint: str | None = None
    idempotency_key: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    entry_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class AuditPage:
    """One page of :meth:`RunStore.list_audit`: newest first.

    Attributes:
        entries: The entries of this page.
        next_cursor: Pass it as ``cursor`` for the next page; None on the last page.
    """

    entries: list[AuditEntry]
    next_cursor: str | None = None


def audit_page(entries: list[AuditEntry], limit: int) -> AuditPage:
    """A page from up to ``limit + 1`` entries in newest-first order (the extra one says there is a next page)."""
    if len(entries) > limit:
        entries = entries[:limit]
        return AuditPage(entries, cursor_for(entries[-1].at, entries[-1].entry_id))
    return AuditPage(entries, None)


def audit_filter(
    entries: Iterable[AuditEntry],
    *,
    limit: int,
    cursor: str | None,
    action: str | None,
    target: str | None,
    idempotency_key: str | None,
) -> AuditPage:
    """The page :meth:`RunStore.list_audit` returns, computed over ``entries`` in memory.

    Raises:
        RunStoreError: A bad cursor or limit.
    """
    check_limit(limit)
    key = decode_cursor(cursor) if cursor is not None else None
    found = [
        entry for entry in entries
        if (action is None or entry.action == action)
        and (target is None or entry.target == target)
        and (idempotency_key is None or entry.idempotency_key == idempotency_key)
        and (key is None or (entry.at, entry.entry_id) < key)
    ]  # fmt: skip
    found.sort(key=lambda entry: (entry.at, entry.entry_id), reverse=True)
    return audit_page(found[: limit + 1], limit)


__all__ = ["AuditEntry", "AuditPage", "audit_filter", "audit_page"]
