"""What the endpoints of one app share: the workflow catalog, the run store, the event logs, the launcher, the
queue, the audit trail and the idempotency keys. :func:`graflow.api.server.create_app` builds one and puts it in
``app.state.services``; endpoints reach it with :func:`services_of`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from graflow.api.access import ANONYMOUS, Principal, TokenSet
from graflow.api.audit import AuditTrail
from graflow.api.event_hook import feedback_data
from graflow.api.events import FEEDBACK_ANSWERED, EventHub
from graflow.api.idempotency import IdempotencyKeys
from graflow.api.launcher import RunLauncher
from graflow.api.queue_ops import QueueOps
from graflow.api.redis_link import RedisLink
from graflow.api.remote import RemoteRuns
from graflow.api.store import StoreHandle
from graflow.api.workflows import WorkflowCatalog

logger = logging.getLogger(__name__)

#: Key of an accepted request's hash in its audit entry (what a retried request is compared with).
REQUEST_HASH = "request_hash"


@dataclass
class ApiServices:
    """The services of one app."""

    catalog: WorkflowCatalog
    store: StoreHandle
    hub: EventHub
    redis: RedisLink
    launcher: RunLauncher
    queue: QueueOps
    audit: AuditTrail
    idempotency: IdempotencyKeys
    tokens: TokenSet
    feedback_backend: Any = None

    @classmethod
    def build(cls, catalog: WorkflowCatalog, store: StoreHandle, redis: RedisLink, tokens: TokenSet) -> ApiServices:
        """Services over ``catalog``, ``store`` and ``redis``."""
        hub = EventHub()
        launcher = RunLauncher(catalog, store, hub, RemoteRuns(redis))
        services = cls(catalog, store, hub, redis, launcher, QueueOps(redis), AuditTrail(store),
                       IdempotencyKeys(), tokens)
        services.idempotency = IdempotencyKeys(services.recall_key)
        return services

    def use_feedback_backend(self, backend: Any) -> None:
        """Give runs this server executes the server's feedback store (their questions show in its web UI)."""
        self.feedback_backend = backend
        self.launcher.feedback_backend = backend

    # -- lifecycle -----------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Accept runs, and listen for answers to questions of runs this server follows (``feedback.answered``)."""
        self.launcher.open()
        if self.feedback_backend is not None:
            self.feedback_backend.start_watcher(self.on_feedback_change)

    def stop(self) -> None:
        """Stop the runs still going here, stop listening, close connections."""
        self.launcher.shutdown()
        if self.feedback_backend is not None:
            self.feedback_backend.stop_watcher(self.on_feedback_change)
        self.redis.close()
        self.store.close()

    def on_feedback_change(self, feedback_id: str) -> None:
        """An answer was stored: report it in the log of the run that asked, when this server keeps one."""
        if not self.hub.live():
            return
        try:
            request = self.feedback_backend.get_request(feedback_id)
        except Exception as exc:  # a notification is a shortcut; the run reports the answer when it resumes
            logger.debug("Feedback %s: could not read the request: %s", feedback_id, exc)
            return
        if request is None or request.status != "completed":
            return
        log = self.hub.get(request.session_id)
        if log is not None and not log.closed:
            log.append(FEEDBACK_ANSWERED, feedback_data(request))

    # -- idempotency keys in the audit log -----------------------------------------------------------------------------
    def recall_key(self, key: str) -> tuple[str, str] | None:
        """The request hash and run id of an accepted call that carried ``key`` (from the audit log)."""
        try:
            entries = self.store.get().list_audit(idempotency_key=key, limit=20).entries
        except Exception as exc:
            logger.warning("Could not look up Idempotency-Key in the audit log: %s", exc)
            return None
        for entry in entries:
            digest = entry.detail.get(REQUEST_HASH)
            if 200 <= entry.status_code < 300 and entry.target and isinstance(digest, str):
                return digest, entry.target
        return None


def services_of(request: Request) -> ApiServices:
    """The app's services.

    Raises:
        HTTPException: 500 when the app was not made by ``create_app``.
    """
    services = getattr(request.app.state, "services", None)
    if services is None:
        raise HTTPException(status_code=500, detail="The runs API is not set up; build the app with create_app()")
    return services  # type: ignore[no-any-return]


def principal_of(request: Request) -> Principal:
    """The caller of ``request`` (anonymous when the app has no access middleware)."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else Principal(ANONYMOUS)


__all__ = ["REQUEST_HASH", "ApiServices", "principal_of", "services_of"]
