"""Starting, cancelling, retrying and resuming runs on behalf of the API.

A **local** run executes on a thread of the server: its context gets the run store's recorder, a hook that feeds
its event log (:mod:`graflow.api.event_hook`) and a feedback manager on the server's feedback store, so its
questions show in the server's web UI and the server's resumer resumes it once they are answered. A
**distributed** run is submitted to the workers (:mod:`graflow.api.remote`). Either way the run is in the store
before the request is answered, so ``GET /api/runs/{id}`` finds it at once; the record carries what the run was
started with (``invocation``: parameters in full, execution mode, step budget), which a retry starts again with.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graflow import defaults
from graflow.api.errors import ApiError, conflict, not_found
from graflow.api.event_hook import EventFeedbackManager, RunEventHook
from graflow.api.events import RUN_PAUSED, EventHub, RunLog
from graflow.api.follow import StoreFollower
from graflow.api.remote import RemoteRuns
from graflow.api.store import StoreHandle, store_call
from graflow.api.workflows import RegisteredWorkflow, WorkflowCatalog, check_parameters
from graflow.core.engine import WorkflowEngine
from graflow.core.workflow import set_current_workflow_context
from graflow.exceptions import GraflowError
from graflow.runs.models import FINAL_RUN_STATUSES, RunRecord, parameters_of

if TYPE_CHECKING:
    from graflow.hitl.manager import FeedbackManager
    from graflow.hitl.resume_state import ResumeOutcome
    from graflow.hitl.types import FeedbackRequest

logger = logging.getLogger(__name__)

LOCAL = "local"
DISTRIBUTED = "distributed"
#: Seconds a run's end waits for the recorder to write it before ``run.finished`` is sent anyway.
FLUSH_SECONDS = 10.0


@dataclass
class LiveRun:
    """A run this server executes now."""

    run_id: str
    workflow: str
    log: RunLog
    context: Any = None
    thread: threading.Thread | None = None


class RunLauncher:
    """Runs workflows for the API.

    Args:
        catalog: The workflows that may be started.
        store: The run store.
        hub: The event logs.
        remote: Distributed runs (on the server's Redis, when it has one).
        feedback_backend: The server's feedback store (None: runs use their default one).
    """

    def __init__(self, catalog: WorkflowCatalog, store: StoreHandle, hub: EventHub, remote: RemoteRuns,
                 feedback_backend: Any = None) -> None:
        self.catalog = catalog
        self.store = store
        self.hub = hub
        self.remote = remote
        self.feedback_backend = feedback_backend
        self._live: dict[str, LiveRun] = {}
        self._lock = threading.Lock()
        self._stopping = False

    # -- queries ------------------------------------------------------------------------------------------------------
    def live(self, run_id: str) -> LiveRun | None:
        """The run if this server executes it now."""
        with self._lock:
            return self._live.get(run_id)

    def live_runs(self) -> list[LiveRun]:
        """The runs this server executes now."""
        with self._lock:
            return list(self._live.values())

    # -- starting ------------------------------------------------------------------------------------------------------
    def start(self, name: str, parameters: dict[str, Any], execution: str = LOCAL, max_steps: int | None = None,
              *, retry_of: str | None = None) -> str:
        """Start a run of the workflow called ``name``; returns its id once it is in the store.

        Raises:
            ApiError: 404 unknown workflow; 422 parameters that do not fit; 400 distributed without Redis;
                503 the store or Redis does not answer; 409 the server is shutting down.
        """
        if self._stopping:
            raise conflict("The server is shutting down")
        registered = self.catalog.get(name)
        check_parameters(registered, parameters)
        store = self.store.get()
        invocation = {"parameters": parameters, "execution": execution, "max_steps": max_steps}
        if execution == DISTRIBUTED:
            run_id = self.remote.submit(registered, parameters, store, invocation=invocation, retry_of=retry_of)
            self.hub.open(run_id, "store")
            return run_id
        return self._start_local(registered, parameters, store, invocation, max_steps, retry_of)

    def _start_local(self, registered: RegisteredWorkflow, parameters: dict[str, Any], store: Any,
                     invocation: dict[str, Any], max_steps: int | None, retry_of: str | None) -> str:
        from graflow.runs import recorder_for

        recorder = recorder_for(store)
        context = registered.workflow.create_context(
            max_steps=defaults.MAX_STEPS if max_steps is None else max_steps,
            initial_channel=dict(parameters),
            hooks=[recorder],
        )
        run_id: str = context.session_id
        log, _ = self.hub.open(run_id)
        context.add_hook(RunEventHook(log))
        if self.feedback_backend is not None:
            context.feedback_manager = EventFeedbackManager(self.feedback_backend, log)
        recorder.annotate(run_id, spec=registered.spec, retry_of=retry_of, invocation=invocation)
        record = RunRecord(run_id, registered.name, "created", parameters=parameters_of(parameters),
                           host=socket.gethostname(), pid=os.getpid(), spec=registered.spec, retry_of=retry_of,
                           invocation=invocation)
        try:
            store_call("record the run", store.create_run, record)
        except ApiError:  # the run never existed: forget it
            self.hub.discard(run_id)
            recorder.forget_annotations(run_id)
            raise
        live = LiveRun(run_id, registered.name, log, context)
        live.thread = threading.Thread(target=self._execute, args=(live, registered, recorder),
                                       name=f"graflow-run-{run_id[:12]}", daemon=True)
        with self._lock:
            self._live[run_id] = live
        live.thread.start()
        return run_id

    def _execute(self, live: LiveRun, registered: RegisteredWorkflow, recorder: Any) -> None:
        context = live.context
        set_current_workflow_context(registered.workflow)  # D1: this thread's current workflow while it runs
        try:
            WorkflowEngine().execute(context)
        except Exception as exc:  # recorded in the context (status, error) and by the recorder
            logger.info("Run %s of %s ended %s: %s", live.run_id, live.workflow, context.status, exc)
        finally:
            self._ended(live, context, recorder)

    def _ended(self, live: LiveRun, context: Any, recorder: Any) -> None:
        if recorder is not None and not recorder.flush(FLUSH_SECONDS):
            logger.warning("Run %s: the run store did not confirm the run's end in time", live.run_id)
        status = str(context.status)
        if status == "paused":  # the run waits for answers; the resumer goes on with it in the same log
            questions = sorted(context.feedback_ids.values())
            live.log.append(RUN_PAUSED, {"workflow": live.workflow, "feedback_ids": questions})
        else:
            error = context.error
            live.log.finish(status, workflow=live.workflow, error_type=type(error).__name__ if error else None,
                            error_message=str(error)[:1000] if error else None)
        with self._lock:
            self._live.pop(live.run_id, None)

    # -- cancelling ----------------------------------------------------------------------------------------------------
    def cancel(self, run_id: str, reason: str) -> str:
        """Stop a run: at its next task boundary when it runs, at once when it waits (paused).

        Returns:
            ``canceling`` (it runs here and stops at its next task boundary), ``cancel_requested`` (it runs
            elsewhere: the process that records it into the store stops it) or ``canceled`` (it was paused).

        Raises:
            ApiError: 404 unknown run; 409 the run has ended; 503 the store does not answer.
        """
        store = self.store.get()
        live = self.live(run_id)
        if live is not None and live.context is not None:
            live.context.run.request_cancel(reason)
            return "canceling"
        run = store_call("read the run", store.get_run, run_id)
        if run is None:
            raise not_found(f"Run {run_id!r}")
        if run.status in FINAL_RUN_STATUSES:
            raise conflict(f"Run {run_id!r} has ended ({run.status}); there is nothing to cancel")
        if run.status == "paused":
            self._cancel_questions(run)
            store_call("cancel the run", store.update_run, run_id, status="canceled", ended_at=time.time(),
                       error_type="GraflowWorkflowCanceledError", error_message=reason)
            log = self.hub.get(run_id)
            if log is not None:
                log.finish("canceled", workflow=run.workflow, error_message=reason)
            return "canceled"
        store_call("request the cancel", store.request_cancel, run_id, reason)
        return "cancel_requested"

    def _cancel_questions(self, run: RunRecord) -> None:
        """Cancel the open questions of a paused run, so that no answer resumes it."""
        if self.feedback_backend is None:
            return
        from graflow.hitl.manager import FeedbackManager

        manager = FeedbackManager(self.feedback_backend)
        for question in run.feedback:
            try:
                manager.cancel(str(question.get("feedback_id")))
            except Exception as exc:  # the run is canceled anyway; the resumer skips canceled runs' answers
                logger.warning("Run %s: could not cancel question %s: %s", run.run_id, question, exc)

    # -- retrying ------------------------------------------------------------------------------------------------------
    def retry(self, run_id: str, execution: str | None = None) -> str:
        """Start the workflow of an ended run again, with the parameters it started with.

        Raises:
            ApiError: 404 unknown run; 409 it has not ended, or its workflow is not registered here.
        """
        store = self.store.get()
        run = store_call("read the run", store.get_run, run_id)
        if run is None:
            raise not_found(f"Run {run_id!r}")
        if run.status not in FINAL_RUN_STATUSES:
            raise conflict(f"Run {run_id!r} is {run.status}; only a run that has ended can be retried")
        if self.catalog.find(run.workflow) is None:
            raise conflict(f"Workflow {run.workflow!r} of run {run_id!r} is not registered on this server")
        invocation = run.invocation or {}
        parameters = invocation.get("parameters")
        if not isinstance(parameters, dict):
            parameters = dict(run.parameters)  # recorded elsewhere: as the store kept them
        mode = execution or invocation.get("execution") or LOCAL
        return self.start(run.workflow, parameters, mode, invocation.get("max_steps"), retry_of=run_id)

    # -- resuming (the feedback resumer's resume function) --------------------------------------------------------
    def resume(self, request: FeedbackRequest, manager: FeedbackManager) -> ResumeOutcome:
        """Resume the run paused on ``request`` here, with its events, recording and questions as a local run's.

        Raises:
            CheckpointError: The checkpoint is missing, torn or tampered with.
        """
        from graflow.core.checkpoint import CheckpointManager
        from graflow.exceptions import CheckpointError
        from graflow.hitl import resume_state as rs

        path = rs.paused_checkpoint(request)
        if path is None:
            raise CheckpointError("missing", f"feedback {request.feedback_id} records no checkpoint")
        context, _ = CheckpointManager.resume_from_checkpoint(path)
        run_id = context.session_id
        log = self._resumed_log(run_id)
        context.add_hook(RunEventHook(log))
        context.feedback_manager = EventFeedbackManager(manager.backend, log)
        recorder = self._recorder(run_id)
        if recorder is not None:
            context.add_hook(recorder)
        live = LiveRun(run_id, str(context.workflow_name), log, context)
        with self._lock:
            self._live[run_id] = live
        try:
            context.execute()
        except Exception as exc:
            logger.info("Resumed run %s ended %s: %s", run_id, context.status, exc)
            raise
        finally:
            self._ended(live, context, recorder)
        return _outcome(context)

    def _resumed_log(self, run_id: str) -> RunLog:
        log, made = self.hub.open(run_id)
        if made:  # its earlier events are in the store only: start the log from them, so ids go on from there
            try:
                store = self.store.get()
                run = store.get_run(run_id)
                if run is not None:
                    StoreFollower(log, self.store).catch_up(run, store.list_tasks(run_id))
            except Exception as exc:
                logger.warning("Run %s: its earlier events could not be read from the store: %s", run_id, exc)
        return log

    def _recorder(self, run_id: str) -> Any:
        """The recorder of a resumed run, carrying what its record says it was started with."""
        try:
            from graflow.runs import recorder_for

            store = self.store.get()
            recorder = recorder_for(store)
            stored = store.get_run(run_id)
        except (ApiError, ImportError, GraflowError) as exc:
            logger.warning("Resumed run %s is not recorded: %s", run_id, exc)
            return None
        if stored is not None:
            recorder.annotate(run_id, spec=stored.spec, retry_of=stored.retry_of, invocation=stored.invocation)
        return recorder

    # -- serving ------------------------------------------------------------------------------------------------
    def open(self) -> None:
        """Accept runs again (an app's lifespan starts: a test client may start an app more than once)."""
        self._stopping = False
        self.remote.open()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel the local runs still going (each stops at its next task boundary) and wait for them. Calling it
        again does nothing more."""
        if self._stopping:
            return
        self._stopping = True
        runs = self.live_runs()
        for live in runs:
            if live.context is not None:
                live.context.run.request_cancel("the server is shutting down")
        deadline = time.monotonic() + timeout
        for live in runs:
            if live.thread is not None:
                live.thread.join(max(0.0, deadline - time.monotonic()))
        self.remote.shutdown()


def _outcome(context: Any) -> ResumeOutcome:
    from graflow.hitl.resume_state import ResumeOutcome

    status = str(context.status)
    if status != "paused" or not context.last_checkpoint_path:
        return ResumeOutcome(status)
    again = str(context.last_checkpoint_path)
    return ResumeOutcome(status, again if "://" in again else os.path.abspath(again))


__all__ = ["DISTRIBUTED", "LOCAL", "LiveRun", "RunLauncher"]
