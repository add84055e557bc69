"""JSON bodies of the workflows and runs endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Execution = Literal["local", "distributed"]
RunStatus = Literal["created", "running", "completed", "failed", "canceled", "terminated", "max_steps_reached",
                    "paused", "crashed"]


class ParameterOut(BaseModel):
    """A parameter of a workflow (of its start task)."""

    name: str = Field(..., description="The parameter and channel key")
    type: str = Field(..., description="JSON type: string, integer, number, boolean, array, object or any")
    annotation: str | None = Field(default=None, description="The Python annotation as written")
    required: bool = Field(..., description="Whether a run must give it")
    nullable: bool = Field(default=False, description="Whether null is accepted")
    default: Any = Field(default=None, description="Its default (JSON, or the repr of a value JSON cannot hold)")
    choices: list[Any] | None = Field(default=None, description="The values a Literal[...] annotation allows")


class GraphNode(BaseModel):
    """A node of a workflow's graph; in a run's graph, with its live state."""

    id: str = Field(..., description="Node id (task id)")
    name: str = Field(..., description="Task function name, or the group id")
    kind: Literal["task", "parallel_group"] = "task"
    handler: str | None = Field(default=None, description="Task handler (direct, subprocess, docker ...)")
    group: str | None = Field(default=None, description="The parallel group this node is a member of")
    members: list[str] | None = Field(default=None, description="A group's member ids")
    state: str | None = Field(default=None, description="In a run: pending, running, completed, failed or retrying")
    attempt: int | None = Field(default=None, description="In a run: the number of its latest attempt")
    dynamic: bool = Field(default=False, description="Added while the run ran (next_task, iterations)")


class GraphEdge(BaseModel):
    """An edge: ``target`` runs after ``source``."""

    source: str
    target: str


class GraphOut(BaseModel):
    """A workflow's graph."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]


class WorkflowOut(BaseModel):
    """A registered workflow."""

    name: str = Field(..., description="The workflow's name; its runs are started at /api/workflows/{name}/runs")
    spec: str | None = Field(default=None, description="Where it was loaded from (FILE:NAME or module:NAME)")
    start_node: str | None = Field(default=None, description="Its start node")
    startable: bool = Field(..., description="False when it has no single start node")
    problem: str | None = Field(default=None, description="Why it cannot be started")
    parameters: list[ParameterOut] = Field(..., description="The start task's parameters")
    graph: GraphOut


class WorkflowList(BaseModel):
    """The registered workflows."""

    count: int
    workflows: list[WorkflowOut]


class RunRequest(BaseModel):
    """Body of ``POST /api/workflows/{name}/runs``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"parameters": {"day": "2025-01-31"}, "execution": "local"}]},
    )

    parameters: dict[str, Any] = Field(default_factory=dict, description="Channel keys the run starts with")
    execution: Execution = Field(
        default="local", description="local: a thread of the server; distributed: the workers"
    )
    max_steps: int | None = Field(
        default=None, ge=1, le=100_000_000, description="Step budget (local runs; default 10000)"
    )


class RetryRequest(BaseModel):
    """Body of ``POST /api/runs/{id}/retry`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    execution: Execution | None = Field(default=None, description="Default: how the run was executed, else local")


class CancelRequestBody(BaseModel):
    """Body of ``POST /api/runs/{id}/cancel`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        default="canceled through the API", max_length=1000, description="Becomes the run's error message"
    )


class RunSummary(BaseModel):
    """A run, as listed."""

    run_id: str
    workflow: str
    status: str = Field(..., description="created, running, completed, failed, canceled, terminated, "
                                         "max_steps_reached, paused or crashed")
    execution: str | None = Field(default=None, description="local or distributed, when known")
    live: bool = Field(default=False, description="This server executes it now")
    created_at: float = Field(..., description="Seconds since the epoch (UTC)")
    updated_at: float
    started_at: float | None = None
    ended_at: float | None = None
    worker_id: str | None = None
    host: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    retry_of: str | None = Field(default=None, description="The run this one retries")


class RunDetail(RunSummary):
    """A run with everything recorded about it."""

    heartbeat_at: float | None = None
    expires_at: float | None = None
    pid: int | None = None
    parameters: dict[str, Any] = Field(default_factory=dict, description="As recorded (values cut to 200 chars)")
    invocation: dict[str, Any] = Field(default_factory=dict, description="What it was started with, in full")
    result_preview: str | None = None
    traceback: str | None = None
    checkpoints: list[str] = Field(default_factory=list)
    feedback: list[dict[str, Any]] = Field(default_factory=list, description="Questions it waits on")
    history: list[list[Any]] = Field(default_factory=list, description="[status, timestamp] transitions")
    spec: str | None = None
    profile: list[dict[str, Any]] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict, description="Related endpoints")


class RunPageOut(BaseModel):
    """One page of runs, newest first."""

    count: int
    runs: list[RunSummary]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last"
    )


class TaskAttemptOut(BaseModel):
    """One attempt of one task."""

    attempt_id: str
    task_id: str
    attempt: int
    status: str = Field(..., description="started, completed, failed, retrying or paused")
    started_at: float
    ended_at: float | None = None
    duration: float | None = None
    worker_id: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    result_preview: str | None = None
    retry_delay: float | None = None


class TaskListOut(BaseModel):
    """The task attempts of a run, in the order they started."""

    run_id: str
    count: int
    tasks: list[TaskAttemptOut]


class RunGraphOut(BaseModel):
    """A run's graph with the state of each node."""

    run_id: str
    workflow: str
    definition: bool = Field(..., description="False when the workflow is not registered here: only the nodes "
                                              "that ran are known, without edges")
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class CancelOut(BaseModel):
    """What a cancel did."""

    run_id: str
    status: Literal["canceling", "cancel_requested", "canceled"] = Field(
        ..., description="canceling: stops at its next task boundary; cancel_requested: the process that runs it "
                         "stops it; canceled: it was paused and is canceled now")


__all__ = [
    "CancelOut",
    "CancelRequestBody",
    "GraphEdge",
    "GraphNode",
    "GraphOut",
    "ParameterOut",
    "RetryRequest",
    "RunDetail",
    "RunGraphOut",
    "RunPageOut",
    "RunRequest",
    "RunSummary",
    "TaskAttemptOut",
    "TaskListOut",
    "WorkflowList",
    "WorkflowOut",
]
