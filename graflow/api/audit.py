"""Writing the audit log: one entry per mutating call, in the run store and in the log.

:class:`~graflow.api.access.AccessMiddleware` calls :class:`AuditTrail` once a mutating request has been answered.
An endpoint says what the call did with :func:`note` (``run.start`` of run ``abc`` with these parameters); calls
whose endpoint says nothing (the feedback endpoints, for example) are named by their method and route, and their
target is the route's first path parameter. An entry that the store refuses is still in the log (logger
``graflow.api.audit``), and the call's answer is not changed by the failure.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio

from graflow.runs.audit import AuditEntry

if TYPE_CHECKING:
    from fastapi import Request

    from graflow.api.access import Principal, Scope
    from graflow.api.store import StoreHandle

logger = logging.getLogger(__name__)

#: Key of the endpoint's notes in the request state.
AUDIT_STATE = "audit"
#: Header that makes a retried POST start one run.
IDEMPOTENCY_HEADER = "idempotency-key"


def note(request: Request, action: str, target: str | None = None, **detail: Any) -> None:
    """Tell the audit log what this call did (call it from an endpoint, before answering).

    Args:
        request: The request being served.
        action: What was done, e.g. ``run.start``.
        target: The id of what it acted on.
        **detail: More to record (JSON values).
    """
    current = getattr(request.state, AUDIT_STATE, None) or {}
    setattr(request.state, AUDIT_STATE, {
        "action": action,
        "target": target if target is not None else current.get("target"),
        "detail": {**current.get("detail", {}), **detail},
    })  # fmt: skip


class AuditTrail:
    """The audit writer of an app.

    Args:
        store: The run store that keeps the entries.
    """

    def __init__(self, store: StoreHandle) -> None:
        self.store = store
        self._warned = False

    async def __call__(self, principal: Principal, scope: Scope, status_code: int) -> None:
        entry = entry_for(principal, scope, status_code)
        logger.info(
            "%s %s %s -> %d by %s%s",
            entry.action, entry.method, entry.path, status_code, principal, f" ({entry.target})" if entry.target else ""
        )  # fmt: skip
        await anyio.to_thread.run_sync(self.write, entry)

    def write(self, entry: AuditEntry) -> bool:
        """Store ``entry``; False (after a warning) when the store refused it."""
        try:
            self.store.get().add_audit_entry(entry)
            return True
        except Exception as exc:  # said once at WARNING; the entry itself is in the log above
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            logger.log(level, "Audit entries are not stored in the run store: %s", exc)
            return False


def entry_for(principal: Principal, scope: Scope, status_code: int) -> AuditEntry:
    """The audit entry of one answered request."""
    state = scope.get("state") or {}
    noted = state.get(AUDIT_STATE) or {}
    route = getattr(scope.get("route"), "path", None)
    params = scope.get("path_params") or {}
    action = noted.get("action") or f"{scope['method']} {route or scope['path']}"
    target = noted.get("target") or (str(next(iter(params.values()))) if params else None)
    key = None
    for name, value in scope.get("headers", ()):
        if name == IDEMPOTENCY_HEADER.encode():
            key = value.decode("latin-1")[:255]
    return AuditEntry(
        action=action,
        role=principal.role,
        token_fingerprint=principal.fingerprint,
        method=scope["method"],
        path=scope["path"],
        status_code=status_code,
        target=target,
        idempotency_key=key,
        detail=dict(noted.get("detail") or {}),
    )


__all__ = ["AUDIT_STATE", "IDEMPOTENCY_HEADER", "AuditTrail", "entry_for", "note"]
