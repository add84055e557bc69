"""Per-task costs of the distributed path: compact task pickles, graphs kept out of the collector, completion JSON."""

from __future__ import annotations

import gc
import json
import pickle
from typing import Any

from graflow.core import serialization
from graflow.core.retry import RetryPolicy
from graflow.core.task import TaskWrapper, _rebuild_task_wrapper
from graflow.distributed.barrier import completion_json
from graflow.distributed.context_factory import GraphCache


def _plain() -> int:
    """Doc of plain."""
    return 1


def test_task_wrapper_round_trip_keeps_every_attribute() -> None:
    policy = RetryPolicy(max_retries=2)
    tasks = [
        TaskWrapper("a", _plain, register_to_context=False),
        TaskWrapper(
            "b",
            _plain,
            inject_context=True,
            handler_type="custom",
            resolve_keyword_args=False,
            max_cycles=3,
            retry_policy=policy,
            register_to_context=False,
        ),
    ]
    tasks[0].__name__ = "renamed"  # differs from what the rebuild derives: must travel
    for original in tasks:
        copy = serialization.loads(serialization.dumps(original))
        expected = {k: v for k, v in original.__dict__.items() if k not in ("_signature_cache", "func", "__wrapped__")}
        got = {k: v for k, v in copy.__dict__.items() if k not in ("_signature_cache", "func", "__wrapped__")}
        assert set(got) == set(expected)
        for key, value in expected.items():
            if key == "retry_policy" and value is not None:
                assert got[key].max_retries == value.max_retries
            elif key != "__annotations__":
                assert got[key] == value, key
        assert copy.__wrapped__ is copy.func
        assert copy.func() == 1
    assert serialization.loads(serialization.dumps(tasks[0])).run() == 1


def test_pickles_of_the_earlier_form_still_load() -> None:
    original = TaskWrapper("old", _plain, max_retries=4, register_to_context=False)
    state = dict(original.__dict__)
    state.pop("_signature_cache", None)

    class Old:
        def __reduce__(self) -> tuple[Any, ...]:
            return (_rebuild_task_wrapper, ("old", _plain), state)

    copy = pickle.loads(pickle.dumps(Old()))
    assert isinstance(copy, TaskWrapper)
    assert copy.task_id == "old"
    assert copy.max_retries == 4


class _Store:
    def __init__(self) -> None:
        self.loads = 0

    def load(self, graph_hash: str) -> Any:
        self.loads += 1
        return {"graph": graph_hash}

    def touch(self, graph_hash: str) -> bool:
        return True


def test_graph_cache_freezes_loaded_graphs_and_unfreezes_on_eviction() -> None:
    gc.unfreeze()
    try:
        cache = GraphCache(size=1, freeze=True)
        store: Any = _Store()
        cache.load(store, "a" * 64)
        assert gc.get_freeze_count() > 0
        cache.load(store, "a" * 64)
        assert store.loads == 1
        cache.load(store, "b" * 64)  # evicts the first: everything becomes collectable again
        assert gc.get_freeze_count() == 0
        cache.load(store, "c" * 64)
        cache.clear()
        assert gc.get_freeze_count() == 0
        unfrozen = GraphCache()  # the default: a worker embedded in another application freezes nothing
        unfrozen.load(store, "d" * 64)
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


def test_completion_json_matches_the_generic_encoding() -> None:
    for args in [
        ('t"1\u00e9', True, None, 1e-7, "w\n"),
        ("t", False, None, float("inf"), "w"),
        ("t", True, None, 3.0, "w"),
        ("t", True, "boom", 1.0, "w"),
        ("t", True, None, None, None),
    ]:
        task_id, success, message, duration, worker = args
        body = json.loads(completion_json(task_id, success, message, duration, worker))
        assert isinstance(body.pop("timestamp"), float)
        expected: dict[str, Any] = {"task_id": task_id, "success": success, "error_message": message}
        if duration is not None:
            expected["duration"] = duration
        if worker is not None:
            expected["worker"] = worker
        assert body == expected
