"""``GroupExecutor``: picks the coordinator for a group, runs it, applies the policy."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from graflow.coordination.coordinator import CoordinationBackend, TaskCoordinator
from graflow.core.handlers.group_policy import resolve_group_policy

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.task import Executable

#: Coordinators reached by name, imported on first use (the Redis one needs the ``redis`` extra).
COORDINATORS: dict[CoordinationBackend, str] = {
    CoordinationBackend.THREADING: "graflow.coordination.threading_coordinator:ThreadingCoordinator",
    CoordinationBackend.DIRECT: "graflow.coordination.direct_coordinator:DirectCoordinator",
    CoordinationBackend.REDIS: "graflow.distributed.redis_coordinator:RedisCoordinator",
}


class GroupExecutor:
    """Runs parallel groups on the configured backend."""

    DEFAULT_BACKEND = CoordinationBackend.THREADING

    @staticmethod
    def create_coordinator(
        backend: CoordinationBackend, config: dict[str, Any], context: ExecutionContext
    ) -> TaskCoordinator:
        """Build the coordinator of ``backend`` from the effective config."""
        module_name, _, cls_name = COORDINATORS[backend].partition(":")
        cls = getattr(importlib.import_module(module_name), cls_name)
        if backend is CoordinationBackend.THREADING:
            coordinator: TaskCoordinator = cls(config.get("thread_count"))
            return coordinator
        if backend is CoordinationBackend.DIRECT:
            direct: TaskCoordinator = cls()
            return direct
        from_config = getattr(cls, "from_config", None)
        if from_config is None:
            raise TypeError(f"{cls_name} must provide from_config(config, context)")
        redis_coordinator: TaskCoordinator = from_config(config, context)
        return redis_coordinator

    @staticmethod
    def _refuse_reentry(group_id: str, context: ExecutionContext) -> None:
        """A member whose successors lead back to its own group would start the group inside itself, forever."""
        branch: ExecutionContext | None = context
        while branch is not None and branch.parent_context is not None:
            if getattr(branch, "group_id", None) == group_id:
                from graflow.exceptions import GraflowRuntimeError

                raise GraflowRuntimeError(
                    f"Parallel group '{group_id}' is reached again from inside its own members "
                    f"(member branch '{branch.session_id.rsplit('_', 1)[-1]}' leads back to it); "
                    f"connect the loop to a task outside the group instead"
                )
            branch = branch.parent_context

    @staticmethod
    def execute_parallel_group(
        group_id: str,
        tasks: Sequence[Executable],
        exec_context: ExecutionContext,
        *,
        backend: CoordinationBackend | str | None = None,
        backend_config: dict[str, Any] | None = None,
        policy: Any = "strict",
    ) -> dict[str, Any]:
        """Run the members of ``group_id``; returns ``{member_id: result}`` (D17).

        Raises:
            ParallelGroupError: The policy rejected the outcome.
        """
        GroupExecutor._refuse_reentry(group_id, exec_context)
        chosen = CoordinationBackend.parse(backend) if backend is not None else GroupExecutor.DEFAULT_BACKEND
        config = {**exec_context.config, **(backend_config or {})}
        if exec_context.get_redis_client() is not None and "redis_client" not in config:
            config["redis_client"] = exec_context.get_redis_client()
        resolved = resolve_group_policy(policy)
        coordinator = GroupExecutor.create_coordinator(chosen, config, exec_context)
        member_ids = [t.task_id for t in tasks]
        hooks = exec_context.hooks
        if hooks.on_parallel_group_start:
            hooks.fire(hooks.on_parallel_group_start, group_id=group_id, member_ids=member_ids, context=exec_context)
        results = coordinator.execute_group(group_id, tasks, exec_context, resolved)
        return TaskCoordinator.finish(group_id, tasks, results, exec_context, resolved)


__all__ = ["GroupExecutor"]
