"""``ParallelGroup``: a node whose handler runs its members, concurrently by default, under an error policy."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from graflow.core import registry
from graflow.core.ambient import active_execution_context, dsl_target
from graflow.core.protocols import CoordinationBackend
from graflow.core.sequence import SequentialTask
from graflow.core.task import Executable


class ParallelGroup(Executable):
    """A node whose handler runs its members concurrently (by default) and applies an error policy."""

    is_parallel_group = True

    def __init__(self, tasks: Sequence[Executable], name: str | None = None) -> None:
        wf = dsl_target()
        self.tasks: list[Executable] = []
        self._member_ids: set[str] = set()
        for t in tasks:
            self._add_member(t)
        self.task_id = name or wf.get_next_group_name()
        self.handler_type = "direct"
        self._execution_config: dict[str, Any] = {"backend": None, "backend_config": {}, "policy": "strict"}
        self._register(wf)

    @property
    def name(self) -> str:
        """The group id."""
        return self.task_id

    def _member_id_set(self) -> set[str]:
        ids: set[str] | None = self.__dict__.get("_member_ids")
        if ids is None or len(ids) != len(self.tasks):  # unpickled from an older form, or tasks edited directly
            ids = self._member_ids = {m.task_id for m in self.tasks}
        return ids

    def _add_member(self, t: Executable, wf: Any = None) -> None:
        """Add ``t`` (a sequence contributes its leftmost task); with ``wf``, register just the new member."""
        member = t.leftmost if isinstance(t, SequentialTask) else t
        if isinstance(t, SequentialTask):
            t._register(wf or dsl_target())
        ids = self._member_id_set()
        if member.task_id in ids:
            return
        self.tasks.append(member)
        ids.add(member.task_id)
        if wf is not None:
            member._register(wf)

    def _is_free(self) -> bool:
        """No edges touch the group node yet, so it may absorb more members."""
        graph = dsl_target().graph
        if self.task_id not in graph:
            return True
        return not graph.successors(self.task_id) and not graph.predecessors(self.task_id)

    def _insert_front(self, t: Executable) -> None:
        member = t.leftmost if isinstance(t, SequentialTask) else t
        t._register(dsl_target())
        ids = self._member_id_set()
        if member.task_id not in ids:
            self.tasks.insert(0, member)
            ids.add(member.task_id)

    @classmethod
    def _combine(cls, left: Executable, right: Executable) -> ParallelGroup:
        wf = dsl_target()
        if isinstance(left, ParallelGroup) and left._is_free():
            if isinstance(right, ParallelGroup) and right._is_free():
                wf.get_next_group_name()  # upstream's counter advances even when the groups merge
                for m in right.tasks:
                    left._add_member(m, wf)
                if right.task_id in wf.graph:
                    wf.graph.remove_node(right.task_id)
                return left
            left._add_member(right, wf)
            return left
        return cls([left, right])

    def set_group_name(self, name: str) -> ParallelGroup:
        """Rename the group node. Raises KeyError if the old id is missing, ValueError if ``name`` exists."""
        dsl_target().graph.rename_node(self.task_id, name)
        self.task_id = name
        return self

    def with_execution(
        self, backend: Any = None, backend_config: dict[str, Any] | None = None, policy: Any = "strict"
    ) -> ParallelGroup:
        """Choose the coordination backend, its config and the error policy. Returns self."""
        from graflow.core.handlers.group_policy import canonicalize_group_policy, resolve_group_policy

        config = dict(backend_config or {})
        if "redis_client" in config:
            # A client cannot be pickled with the graph: keep its connection parameters (the Redis adapter is
            # reached by name, so the engine does not import redis).
            client = config.pop("redis_client")
            config = {**registry.resolve("redis_params", "from_client")(client), **config}
        thread_count = config.get("thread_count")
        if thread_count is not None and (isinstance(thread_count, bool) or not isinstance(thread_count, int)
                                         or thread_count < 1):
            raise ValueError(f"Group '{self.task_id}': thread_count must be an int >= 1, got {thread_count!r}")
        canonical = canonicalize_group_policy(policy)
        resolved = resolve_group_policy(canonical)  # fail here, not when the group first runs
        min_success = getattr(resolved, "min_success", None)
        if isinstance(min_success, int) and min_success > len(self.tasks):
            raise ValueError(
                f"Group '{self.task_id}' has {len(self.tasks)} members; "
                f"AtLeastNGroupPolicy({min_success}) can never pass"
            )
        critical = getattr(resolved, "critical_task_ids", None)
        if critical is not None:
            unknown = [c for c in critical if c not in self._member_id_set()]
            if unknown:
                raise ValueError(f"Critical task ids not in group {self.task_id}: {unknown}")
        self._execution_config = {
            "backend": CoordinationBackend.parse(backend) if backend is not None else None,
            "backend_config": config,
            "policy": canonical,
        }
        return self

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run the members through the configured coordinator; returns ``{member_id: result}`` (D17)."""
        ctx = active_execution_context() or getattr(self, "_execution_context", None)
        if ctx is None:
            raise RuntimeError(f"ParallelGroup '{self.task_id}' can only run inside a workflow run")
        cfg = self._execution_config
        return registry.resolve("group_executor", "default").execute_parallel_group(
            self.task_id, self.tasks, ctx,
            backend=cfg.get("backend"), backend_config=cfg.get("backend_config"), policy=cfg.get("policy", "strict"),
        )

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Executable]:
        return iter(self.tasks)

    def __repr__(self) -> str:
        return f"ParallelGroup({self.task_id!r}, [" + ", ".join(t.task_id for t in self.tasks) + "])"


__all__ = ["ParallelGroup"]
