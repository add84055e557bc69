"""``GET /api/workflows``: the workflows this server may start, with their parameters and graphs; and ``GET /api``,
the index of the API."""

from __future__ import annotations

from fastapi import APIRouter, Request

from graflow.api.endpoints.common import COMMON_ERRORS, described
from graflow.api.schemas.operations import ApiIndex
from graflow.api.schemas.runs import GraphOut, ParameterOut, WorkflowList, WorkflowOut
from graflow.api.services import principal_of, services_of
from graflow.api.workflows import RegisteredWorkflow

#: Version of the ``/api`` endpoints: within it, changes are additive (new fields, new endpoints).
API_VERSION = "1"

router = APIRouter(prefix="/api", tags=["workflows"], responses=COMMON_ERRORS)

ENDPOINTS = {
    "workflows": "GET /api/workflows",
    "workflow": "GET /api/workflows/{name}",
    "start_run": "POST /api/workflows/{name}/runs",
    "runs": "GET /api/runs",
    "run": "GET /api/runs/{run_id}",
    "tasks": "GET /api/runs/{run_id}/tasks",
    "graph": "GET /api/runs/{run_id}/graph",
    "events": "GET /api/runs/{run_id}/events",
    "cancel": "POST /api/runs/{run_id}/cancel",
    "retry": "POST /api/runs/{run_id}/retry",
    "workers": "GET /api/workers",
    "dead_letters": "GET /api/dead-letters",
    "requeue": "POST /api/dead-letters/{dead_letter_id}/requeue",
    "delete_dead_letter": "DELETE /api/dead-letters/{dead_letter_id}",
    "audit": "GET /api/audit",
    "feedback": "GET /api/feedback",
}


@router.get("", response_model=ApiIndex, summary="The API's index", tags=["info"])
def api_index(request: Request) -> ApiIndex:
    """The version of the ``/api`` endpoints, where their schema and docs are, and the caller's role."""
    return ApiIndex(version=API_VERSION, openapi="/openapi.json", docs="/docs", role=principal_of(request).role,
                    endpoints=ENDPOINTS)


def workflow_out(registered: RegisteredWorkflow) -> WorkflowOut:
    """The JSON of a registered workflow."""
    return WorkflowOut(
        name=registered.name,
        spec=registered.spec,
        start_node=registered.start_node,
        startable=registered.problem is None,
        problem=registered.problem,
        parameters=[ParameterOut(**vars(p)) for p in registered.parameters],
        graph=GraphOut.model_validate(registered.graph()),
    )


@router.get("/workflows", response_model=WorkflowList, summary="Registered workflows")
def list_workflows(request: Request) -> WorkflowList:
    """Every workflow this server may start: its parameters (from its start task's signature) and its graph."""
    found = [workflow_out(registered) for registered in services_of(request).catalog.all()]
    return WorkflowList(count=len(found), workflows=found)


@router.get("/workflows/{name}", response_model=WorkflowOut, summary="One workflow",
            responses=described(404, "No workflow of that name"))
def get_workflow(request: Request, name: str) -> WorkflowOut:
    """The workflow called ``name``."""
    return workflow_out(services_of(request).catalog.get(name))


__all__ = ["API_VERSION", "router", "workflow_out"]
