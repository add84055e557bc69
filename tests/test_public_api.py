"""Every upstream import path of Graflow 0.2 that this build provides imports and has the documented names."""

from __future__ import annotations

import importlib
import inspect

import pytest

# (module, names) pairs from spec section 1. Optional-extra modules are listed separately below.
CORE_PATHS: list[tuple[str, list[str]]] = [
    ("graflow", ["task", "workflow", "chain", "parallel", "RetryPolicy", "TaskExecutionContext", "__version__"]),
    ("graflow.core.decorators", ["task"]),
    ("graflow.core.workflow", ["workflow", "WorkflowContext", "current_workflow_context",
                               "get_current_workflow_context", "require_workflow_context",
                               "set_current_workflow_context", "clear_workflow_context"]),
    ("graflow.core.task", ["Executable", "Task", "TaskWrapper", "SequentialTask", "ParallelGroup", "chain",
                           "parallel"]),
    ("graflow.core.context", ["ExecutionContext", "TaskExecutionContext", "create_execution_context",
                              "execute_with_cycles"]),
    ("graflow.core.engine", ["WorkflowEngine"]),
    ("graflow.core.graph", ["TaskGraph"]),
    ("graflow.core.handler", ["TaskHandler", "TaskResult"]),
    ("graflow.core.handlers.direct", ["DirectTaskHandler"]),
    ("graflow.core.handlers.group_policy", ["GroupExecutionPolicy", "StrictGroupPolicy", "BestEffortGroupPolicy",
                                            "CriticalGroupPolicy", "AtLeastNGroupPolicy", "POLICY_REGISTRY",
                                            "canonicalize_group_policy", "resolve_group_policy"]),
    ("graflow.core.retry", ["RetryPolicy", "RetryController"]),
    ("graflow.core.cycle", ["CycleController"]),
    ("graflow.core.serialization", ["dumps", "loads", "dump", "load"]),
    ("graflow.coordination.coordinator", ["CoordinationBackend", "TaskCoordinator"]),
    ("graflow.coordination.executor", ["GroupExecutor"]),
    ("graflow.coordination.threading_coordinator", ["ThreadingCoordinator"]),
    ("graflow.queue.base", ["TaskSpec", "TaskStatus", "TaskQueue"]),
    ("graflow.queue.local", ["LocalTaskQueue"]),
    ("graflow.channels.base", ["Channel"]),
    ("graflow.channels.memory_channel", ["MemoryChannel"]),
    ("graflow.channels.factory", ["ChannelFactory"]),
    ("graflow.channels.typed", ["TypedChannel", "ChannelTypeRegistry"]),
    ("graflow.channels.schemas", ["TaskResultMessage", "TaskProgressMessage", "TaskErrorMessage",
                                  "WorkflowStateMessage", "DataTransferMessage", "CycleNotificationMessage"]),
    ("graflow.trace", ["Tracer", "NoopTracer", "ConsoleTracer"]),
    ("graflow.trace.console", ["ConsoleTracer"]),
    ("graflow.trace.noop", ["NoopTracer"]),
    ("graflow.utils.graph", ["draw_ascii", "draw_mermaid", "draw_mermaid_png", "draw_png", "draw_dot",
                             "create_agraph", "show_graph_info", "visualize_dependencies", "draw_task_graph",
                             "build_graph"]),
    ("graflow.exceptions", ["GraflowError", "GraflowRuntimeError", "CycleLimitExceededError",
                            "RetryLimitExceededError", "TaskError", "GraphCompilationError", "DuplicateTaskError",
                            "ConfigError", "ParallelGroupError", "GraflowWorkflowCanceledError", "as_runtime_error"]),
]


# Paths that need an optional extra (installed by `make test`: the dev extra includes every feature extra).
EXTRA_PATHS: list[tuple[str, list[str]]] = [
    ("graflow.core.checkpoint", ["CheckpointManager", "CheckpointMetadata"]),
    ("graflow.coordination.redis_coordinator", ["RedisCoordinator", "record_task_completion"]),
    ("graflow.coordination.graph_store", ["GraphStore"]),
    ("graflow.coordination.records", ["SerializedTaskRecord"]),
    ("graflow.queue.distributed", ["DistributedTaskQueue"]),
    ("graflow.queue.redis", ["RedisTaskQueue"]),
    ("graflow.queue.factory", ["QueueBackend"]),
    ("graflow.channels.factory", ["ChannelBackend"]),
    ("graflow.channels.redis_channel", ["RedisChannel"]),
    ("graflow.worker.worker", ["TaskWorker"]),
    ("graflow.worker.context_factory", ["ExecutionContextFactory"]),
    ("graflow.worker.main", ["main"]),
    ("graflow.utils.redis_utils", ["extract_redis_config", "create_redis_client", "ensure_redis_connection_params"]),
    ("graflow.trace.langfuse", ["LangFuseTracer"]),
    ("graflow.trace", ["LangFuseTracer"]),
    ("graflow.hitl.types", ["FeedbackType", "FeedbackRequest", "FeedbackResponse", "FeedbackTimeoutError"]),
    ("graflow.hitl.manager", ["FeedbackManager"]),
    ("graflow.hitl.handler", ["FeedbackHandler", "WebhookFeedbackHandler", "SlackFeedbackHandler"]),
    ("graflow.hitl.backend.base", ["FeedbackBackend"]),
    ("graflow.hitl.backend.filesystem", ["FilesystemFeedbackBackend"]),
    ("graflow.hitl.backend.redis", ["RedisFeedbackBackend"]),
    ("graflow.api.app", ["create_feedback_api", "create_feedback_api_with_redis"]),
    ("graflow.api.main", ["main", "parse_args", "create_app_from_args"]),
    ("graflow.api.endpoints.feedback", ["router"]),
    ("graflow.api.endpoints.feedback_ui", ["router"]),
    ("graflow.core.handlers.docker", ["DockerTaskHandler"]),
    ("graflow.core.handlers.subprocess", ["SubprocessTaskHandler"]),
    ("graflow.handlers", ["DockerTaskHandler", "SubprocessTaskHandler", "ProcessTaskHandler", "TaskProcessError",
                          "HandlerUnavailableError"]),
]


@pytest.mark.parametrize(("module", "names"), CORE_PATHS + EXTRA_PATHS, ids=[m for m, _ in CORE_PATHS + EXTRA_PATHS])
def test_upstream_import_path(module: str, names: list[str]) -> None:
    mod = importlib.import_module(module)
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{module} lacks {missing}"


def test_top_level_names_are_the_same_objects() -> None:
    import graflow
    from graflow.core.decorators import task
    from graflow.core.workflow import workflow

    assert graflow.task is task and graflow.workflow is workflow


@pytest.mark.parametrize(
    ("target", "params"),
    [
        ("graflow.core.decorators:task", ["id_or_func", "id", "task_id", "inject_context", "inject_llm_client",
                                          "inject_llm_agent", "handler", "resolve_keyword_args", "max_cycles",
                                          "max_retries", "retry_policy"]),
        ("graflow.core.workflow:workflow", ["name", "tracer", "prompt_manager"]),
        ("graflow.core.task:TaskWrapper", ["task_id", "func", "inject_context", "inject_llm_client",
                                           "inject_llm_agent", "register_to_context", "handler_type",
                                           "resolve_keyword_args", "max_cycles", "max_retries", "retry_policy"]),
        ("graflow.core.handlers.docker:DockerTaskHandler", ["image", "auto_remove", "environment", "volumes",
                                                             "device_requests", "auto_mount_graflow"]),
        ("graflow.core.task:ParallelGroup", ["tasks", "name"]),
        ("graflow.core.context:ExecutionContext.create", ["graph", "start_node", "max_steps", "default_max_cycles",
                                                          "default_max_retries", "channel_backend", "config",
                                                          "tracer", "llm_client", "prompt_manager"]),
        ("graflow.core.workflow:WorkflowContext.execute", ["start_node", "max_steps", "ret_context",
                                                           "initial_channel"]),
        ("graflow.core.retry:RetryPolicy", ["max_retries", "initial_interval", "backoff_factor", "max_interval",
                                            "jitter"]),
        ("graflow.trace.console:ConsoleTracer", ["enable_runtime_graph", "enable_colors", "show_metadata",
                                                 "indent_size"]),
    ],
)
def test_signatures_keep_upstream_parameters_in_order(target: str, params: list[str]) -> None:
    module, _, attr = target.partition(":")
    obj: object = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    names = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]  # type: ignore[arg-type]
    assert names[: len(params)] == params


def test_retry_policy_defaults() -> None:
    from graflow import RetryPolicy

    p = RetryPolicy()
    assert (p.max_retries, p.initial_interval, p.backoff_factor, p.max_interval, p.jitter) == (0, 1.0, 2.0, 60.0, False)
