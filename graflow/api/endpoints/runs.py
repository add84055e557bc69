"""Runs: start one (``POST /api/workflows/{name}/runs``), list them, read one, its task attempts and its graph, cancel
and retry it. Events are in :mod:`graflow.api.endpoints.events`.

Endpoints are plain functions: FastAPI runs them in its thread pool, so the blocking store calls stay off the event
loop. Starting and retrying answer ``202 Accepted`` with the run as it is recorded then, and a ``Location`` header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response

from graflow.api.audit import note
from graflow.api.endpoints.common import COMMON_ERRORS, described
from graflow.api.errors import ApiError, not_found
from graflow.api.idempotency import request_hash
from graflow.api.schemas.runs import (
    CancelOut,
    CancelRequestBody,
    GraphEdge,
    GraphNode,
    RetryRequest,
    RunDetail,
    RunGraphOut,
    RunPageOut,
    RunRequest,
    RunSummary,
    TaskAttemptOut,
    TaskListOut,
)
from graflow.api.services import REQUEST_HASH, ApiServices, services_of
from graflow.api.store import store_call
from graflow.api.workflows import describe_graph
from graflow.runs.models import RUN_STATUSES, RunRecord

router = APIRouter(prefix="/api", tags=["runs"], responses=COMMON_ERRORS)

ERRORS = described(404, "No such run or workflow")
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Makes a retried POST start one run")
]
#: A task attempt's status as a node state of the run graph.
_ATTEMPT_STATES = {"started": "running", "completed": "completed", "failed": "failed", "retrying": "retrying",
                   "paused": "paused"}


# -- reading -----------------------------------------------------------------------------------------------------------
def summary_fields(services: ApiServices, run: RunRecord) -> dict[str, Any]:
    """The fields of :class:`RunSummary` for ``run``."""
    execution = (run.invocation or {}).get("execution") or ("distributed" if run.worker_id else None)
    return {
        "run_id": run.run_id, "workflow": run.workflow, "status": run.status, "execution": execution,
        "live": services.launcher.live(run.run_id) is not None, "created_at": run.created_at,
        "updated_at": run.updated_at, "started_at": run.started_at, "ended_at": run.ended_at,
        "worker_id": run.worker_id, "host": run.host, "error_type": run.error_type,
        "error_message": run.error_message, "retry_of": run.retry_of,
    }  # fmt: skip


def run_detail(services: ApiServices, run: RunRecord) -> RunDetail:
    """The JSON of one run."""
    base = f"/api/runs/{run.run_id}"
    return RunDetail(
        **summary_fields(services, run),
        heartbeat_at=run.heartbeat_at, expires_at=run.expires_at, pid=run.pid, parameters=run.parameters,
        invocation=run.invocation or {}, result_preview=run.result_preview, traceback=run.traceback,
        checkpoints=run.checkpoints, feedback=run.feedback, history=run.history, spec=run.spec,
        profile=run.profile or [],
        links={"self": base, "tasks": f"{base}/tasks", "graph": f"{base}/graph", "events": f"{base}/events"},
    )  # fmt: skip


def read_run(services: ApiServices, run_id: str) -> RunRecord:
    """The run, or a 404 answer."""
    run = store_call("read the run", services.store.get().get_run, run_id)
    if run is None:
        raise not_found(f"Run {run_id!r}")
    return run  # type: ignore[no-any-return]


@router.get("/runs", response_model=RunPageOut, summary="List runs", responses=ERRORS)
def list_runs(
    request: Request,
    status: Annotated[list[str] | None, Query(description="One status, several (repeat it, or comma-separated)")]
    = None,
    workflow: Annotated[str | None, Query(description="Only runs of this workflow")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> RunPageOut:
    """Runs newest first, by keyset pages: a page never shifts when new runs arrive."""
    services = services_of(request)
    wanted = [s.strip() for value in status or () for s in value.split(",") if s.strip()] or None
    unknown = sorted(set(wanted or ()) - set(RUN_STATUSES))
    if unknown:
        raise ApiError(422, f"Unknown status {', '.join(map(repr, unknown))}; known: {', '.join(RUN_STATUSES)}")
    store = services.store.get()
    page = store_call("list runs", store.list_runs, status=wanted, workflow=workflow, limit=limit, cursor=cursor)
    runs = [RunSummary(**summary_fields(services, run)) for run in page.runs]
    return RunPageOut(count=len(runs), runs=runs, next_cursor=page.next_cursor)


@router.get("/runs/{run_id}", response_model=RunDetail, summary="Get a run", responses=ERRORS)
def get_run(request: Request, run_id: str) -> RunDetail:
    """Everything recorded about a run: status and its history, parameters, error, checkpoints, questions."""
    services = services_of(request)
    return run_detail(services, read_run(services, run_id))


@router.get("/runs/{run_id}/tasks", response_model=TaskListOut, summary="A run's task attempts", responses=ERRORS)
def list_tasks(request: Request, run_id: str) -> TaskListOut:
    """Every attempt of every task of the run, in the order they started."""
    services = services_of(request)
    read_run(services, run_id)
    attempts = store_call("list task attempts", services.store.get().list_tasks, run_id)
    tasks = [TaskAttemptOut(**{k: v for k, v in vars(a).items() if k != "run_id"}) for a in attempts]
    return TaskListOut(run_id=run_id, count=len(tasks), tasks=tasks)


@router.get("/runs/{run_id}/graph", response_model=RunGraphOut, summary="A run's graph with live states",
            responses=ERRORS)
def run_graph(request: Request, run_id: str) -> RunGraphOut:
    """The run's nodes and edges, each node with its ``state`` (``pending`` until it starts) and latest attempt.

    A run this server executes shows its own graph, with the tasks it added while it ran; others show their
    workflow's definition when it is registered here, else only the tasks that ran, without edges.
    """
    services = services_of(request)
    run = read_run(services, run_id)
    states = _states(services, run_id)
    live = services.launcher.live(run_id)
    registered = services.catalog.find(run.workflow)
    graph: dict[str, Any] = {"nodes": [], "edges": []}
    if live is not None and live.context is not None:
        with live.context.run.graph_lock:
            graph = describe_graph(live.context.run.graph, states)
    elif registered is not None:
        graph = describe_graph(registered.workflow.graph, states)
    known = {node["id"] for node in graph["nodes"]}
    for task_id, state in states.items():
        if task_id not in known:
            graph["nodes"].append({"id": task_id, "name": task_id, "dynamic": True, **state})
    nodes = [GraphNode(**{"state": "pending", **node}) for node in graph["nodes"]]
    edges = [GraphEdge(**edge) for edge in graph["edges"]]
    return RunGraphOut(run_id=run_id, workflow=run.workflow, definition=bool(live or registered), nodes=nodes,
                       edges=edges)


def _states(services: ApiServices, run_id: str) -> dict[str, dict[str, Any]]:
    log = services.hub.get(run_id)
    if log is not None and log.task_states:
        return {task_id: dict(state) for task_id, state in log.task_states.items()}
    states: dict[str, dict[str, Any]] = {}
    for attempt in store_call("list task attempts", services.store.get().list_tasks, run_id):
        states[attempt.task_id] = {"state": _ATTEMPT_STATES.get(attempt.status, attempt.status),
                                   "attempt": attempt.attempt}
    return states


# -- changing ----------------------------------------------------------------------------------------------------------
def _started(request: Request, response: Response, services: ApiServices, action: str, key: str | None,
             payload: Any, work: Callable[[], str]) -> str:
    """``work()`` (which starts a run), once per Idempotency-Key; the run's id, with a Location header."""
    digest = None
    if key is None:
        run_id, replayed = work(), False
    else:
        digest = request_hash(request.method, request.url.path, payload)
        run_id, replayed = services.idempotency.run_once(key, digest, work)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/runs/{run_id}"
    note(request, action, run_id, **{REQUEST_HASH: digest, "replayed": replayed})
    return run_id


@router.post("/workflows/{name}/runs", status_code=202, response_model=RunDetail, summary="Start a run",
             responses={**ERRORS, **described(400, "Distributed without Redis"),
                        **described(409, "The workflow cannot be started")})
def start_run(request: Request, response: Response, name: str,
              body: Annotated[RunRequest | None, Body()] = None, idempotency_key: IdempotencyKey = None) -> RunDetail:
    """Start a run of workflow ``name``. ``local`` runs execute in a thread of this server; ``distributed`` runs are
    queued for the workers of the server's Redis. The run is in the store when this answers."""
    services = services_of(request)
    asked = body or RunRequest()
    note(request, "run.start", workflow=name, execution=asked.execution, parameters=asked.parameters)

    def work() -> str:
        return services.launcher.start(name, asked.parameters, asked.execution, asked.max_steps)

    run_id = _started(request, response, services, "run.start", idempotency_key, asked.model_dump(), work)
    return run_detail(services, read_run(services, run_id))


@router.post("/runs/{run_id}/retry", status_code=202, response_model=RunDetail, summary="Retry a run",
             responses={**ERRORS, **described(409, "Not ended, or not registered here")})
def retry_run(request: Request, response: Response, run_id: str,
              body: Annotated[RetryRequest | None, Body()] = None, idempotency_key: IdempotencyKey = None) -> RunDetail:
    """Start the workflow of an ended run again with the parameters it started with (in full when it was started
    through the API or ``graflow run``); the new run's ``retry_of`` names this one."""
    services = services_of(request)
    asked = body or RetryRequest()
    note(request, "run.retry", retry_of=run_id)

    def work() -> str:
        return services.launcher.retry(run_id, asked.execution)

    new_id = _started(request, response, services, "run.retry", idempotency_key, asked.model_dump(), work)
    return run_detail(services, read_run(services, new_id))


@router.post("/runs/{run_id}/cancel", response_model=CancelOut, summary="Cancel a run",
             responses={**ERRORS, 202: {"model": CancelOut, "description": "It stops at its next task boundary"},
                        **described(409, "The run has ended")})
def cancel_run(request: Request, response: Response, run_id: str,
               body: Annotated[CancelRequestBody | None, Body()] = None) -> CancelOut:
    """Stop a run. A run this server executes stops at its next task boundary (the running task finishes, nothing
    after it starts) as ``canceled``: answered ``202``. A run that another process records in the store is asked to
    stop the same way (``202``). A paused run is canceled at once, with its open questions (``200``)."""
    services = services_of(request)
    reason = (body or CancelRequestBody()).reason
    outcome = services.launcher.cancel(run_id, reason)
    note(request, "run.cancel", run_id, reason=reason, outcome=outcome)
    if outcome != "canceled":
        response.status_code = 202
    return CancelOut(run_id=run_id, status=outcome)  # type: ignore[arg-type]


__all__ = ["read_run", "router", "run_detail", "summary_fields"]
