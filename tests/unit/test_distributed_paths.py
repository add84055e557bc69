"""The modules moved into ``graflow.distributed`` keep their earlier import paths, as the very same objects."""

from __future__ import annotations

import importlib

import pytest

pytest.importorskip("redis")

# (earlier path, new path, names)
MOVED: list[tuple[str, str, list[str]]] = [
    ("graflow.worker.submit", "graflow.distributed.submit", ["submit_workflow", "WorkflowRun",
                                                             "WorkflowRunTimeoutError"]),
    ("graflow.coordination.redis_coordinator", "graflow.distributed.redis_coordinator",
     ["RedisCoordinator", "record_task_completion", "DEFAULT_BARRIER_TIMEOUT"]),
    ("graflow.coordination.graph_store", "graflow.distributed.graph_store",
     ["GraphStore", "GraphNotFoundError", "GraphIntegrityError"]),
    ("graflow.coordination.records", "graflow.distributed.records", ["SerializedTaskRecord", "RecordDecodeError"]),
    ("graflow.queue.distributed", "graflow.distributed.queue", ["DistributedTaskQueue", "default_consumer_name"]),
    ("graflow.queue.redis", "graflow.distributed.redis_queue", ["RedisTaskQueue"]),
    ("graflow.worker.context_factory", "graflow.distributed.context_factory",
     ["ExecutionContextFactory", "GraphCache", "gc_paused"]),
]


@pytest.mark.parametrize(("old", "new", "names"), MOVED, ids=[old for old, _, _ in MOVED])
def test_earlier_path_re_exports_the_same_objects(old: str, new: str, names: list[str]) -> None:
    # given both modules
    earlier, moved = importlib.import_module(old), importlib.import_module(new)
    # then every name is the very object of the new module, and both list the same public names
    for name in names:
        assert getattr(earlier, name) is getattr(moved, name), f"{old}.{name}"
    assert set(earlier.__all__) == set(moved.__all__)
