"""Parallel groups: concurrency, shared channel (D10), policies, backends (D16), results (D17), hooks (D18)."""

from __future__ import annotations

import threading

import pytest

from graflow import RetryPolicy, task, workflow
from graflow.coordination.coordinator import CoordinationBackend
from graflow.coordination.executor import GroupExecutor
from graflow.core.handlers.group_policy import (
    AtLeastNGroupPolicy,
    BestEffortGroupPolicy,
    CriticalGroupPolicy,
    GroupExecutionPolicy,
    canonicalize_group_policy,
    resolve_group_policy,
)
from graflow.core.hooks import EngineHook
from graflow.core.task import ParallelGroup
from graflow.exceptions import ConfigError, GraflowRuntimeError, ParallelGroupError


def _members(n: int, fn):  # type: ignore[no-untyped-def]
    return [task(f"m{i}", inject_context=True)(fn) for i in range(n)]


def test_members_run_at_the_same_time_on_the_threading_backend() -> None:
    """Given 3 members that wait for each other, when the group runs, then it finishes (they overlapped)."""
    barrier = threading.Barrier(3, timeout=10)
    with workflow("concurrent") as wf:
        ParallelGroup(_members(3, lambda ctx: barrier.wait()))
        result = wf.execute()
    assert set(result) == {"m0", "m1", "m2"}


def test_shared_channel_atomic_add_is_exact() -> None:
    """D10: 5 members x 100 atomic_add = 500."""
    def bump(ctx) -> None:  # type: ignore[no-untyped-def]
        for _ in range(100):
            ctx.get_channel().atomic_add("counter", 1)

    with workflow("atomic") as wf:
        ParallelGroup(_members(5, bump))
        _, ctx = wf.execute(ret_context=True)
    assert ctx.channel.get("counter") == 500


def test_append_and_lock_are_shared_across_members() -> None:
    def work(ctx) -> None:  # type: ignore[no-untyped-def]
        channel = ctx.get_channel()
        channel.append("log", ctx.task_id)
        with channel.lock("slot"):
            value = channel.get("slot", 0)
            channel.set("slot", value + 1)

    with workflow("append-lock") as wf:
        ParallelGroup(_members(4, work))
        _, ctx = wf.execute(ret_context=True)
    assert sorted(ctx.channel.get("log")) == ["m0", "m1", "m2", "m3"]
    assert ctx.channel.get("slot") == 4


def test_trailing_group_returns_member_results() -> None:
    """D17."""
    with workflow("trailing") as wf:
        a = task("a")(lambda: 1)
        b = task("b")(lambda: 2)
        a | b
        assert wf.execute() == {"a": 1, "b": 2}


def test_group_successor_runs_once_after_every_member() -> None:
    order: list[str] = []
    lock = threading.Lock()

    def record(name: str):  # type: ignore[no-untyped-def]
        def fn() -> None:
            with lock:
                order.append(name)
        return fn

    with workflow("after-group") as wf:
        start, b, c, end = (task(n)(record(n)) for n in ("start", "b", "c", "end"))
        start >> (b | c) >> end
        wf.execute()
    assert order[0] == "start" and order[-1] == "end" and sorted(order[1:3]) == ["b", "c"]


def test_member_branch_successors_run_inside_the_branch() -> None:
    with workflow("branch-chain") as wf:
        a = task("a")(lambda: "a")
        b = task("b")(lambda: "b")
        c = task("c")(lambda b: b + "c")
        a | (b >> c)
        _, ctx = wf.execute(ret_context=True)
    assert ctx.get_result("c") == "bc"
    # the group node stands for its members in the parent's record (Graflow 0.2 behaviour)
    assert ctx.completed_tasks == [next(n for n in ctx.graph.nodes if n.startswith("ParallelGroup"))]


def test_strict_policy_reports_original_errors_without_double_wrapping() -> None:
    with workflow("strict") as wf:
        ok = task("ok")(lambda: 1)

        @task
        def broken() -> None:
            raise ValueError("disk full")

        ok | broken
        with pytest.raises(GraflowRuntimeError) as err:
            wf.execute()
    group_error = err.value.cause if not isinstance(err.value, ParallelGroupError) else err.value
    assert isinstance(group_error, ParallelGroupError)
    assert group_error.failed_tasks == [("broken", "disk full")]
    assert group_error.successful_tasks == ["ok"]
    assert isinstance(group_error.member_errors["broken"].cause, ValueError)
    assert "caused by" not in str(group_error)
    assert str(group_error).startswith("Parallel group ParallelGroup_1 failed: 1 task(s) failed")


def test_best_effort_policy_lets_the_run_continue() -> None:
    with workflow("best-effort") as wf:
        good = task("good")(lambda: "fine")
        bad = task("bad")(lambda: 1 / 0)
        after = task("after")(lambda: "after")
        (good | bad).with_execution(policy="best_effort") >> after
        result, ctx = wf.execute(ret_context=True)
    assert result == "after"
    # a tolerated failure leaves no result (as in Graflow 0.2); the error is in the execution log's hooks' view
    assert ctx.get_result("bad") is None
    assert ctx.get_result("good") == "fine"


def test_critical_policy_fails_only_on_critical_members() -> None:
    def build(critical: list[str]):  # type: ignore[no-untyped-def]
        wf = workflow("critical")
        with wf:
            must = task("must")(lambda: 1)
            optional = task("optional")(lambda: 1 / 0)
            (must | optional).with_execution(policy=CriticalGroupPolicy(critical))
        return wf

    assert build(["must"]).execute() == {"must": 1, "optional": None}
    with pytest.raises(GraflowRuntimeError) as err:
        build(["optional"]).execute()
    assert "Critical tasks failed: ['optional']" in str(err.value)


def test_at_least_n_policy() -> None:
    with workflow("at-least") as wf:
        members = [task(f"t{i}")(lambda i=i: 1 / 0 if i < 2 else i) for i in range(4)]
        ParallelGroup(members).with_execution(policy=AtLeastNGroupPolicy(3))
        with pytest.raises(GraflowRuntimeError) as err:
            wf.execute()
    assert "Only 2/3 tasks succeeded in group ParallelGroup_1" in str(err.value)


def test_custom_policy_subclass() -> None:
    class NeedsFirst(GroupExecutionPolicy):
        def on_group_finished(self, group_id, tasks, results, context):  # type: ignore[no-untyped-def]
            successful, failed = self._partition_group_results(results)
            if "first" not in successful:
                raise ParallelGroupError("first must succeed", group_id, failed, successful)

    with workflow("custom") as wf:
        first = task("first")(lambda: 1)
        second = task("second")(lambda: 1 / 0)
        (first | second).with_execution(policy=NeedsFirst())
        assert wf.execute() == {"first": 1, "second": None}


def test_policy_serialised_forms_and_validation() -> None:
    assert canonicalize_group_policy("strict") == "strict"
    assert canonicalize_group_policy(BestEffortGroupPolicy()) == "best_effort"
    assert canonicalize_group_policy(CriticalGroupPolicy(["a"])) == {"type": "critical", "critical_task_ids": ["a"]}
    assert canonicalize_group_policy(AtLeastNGroupPolicy(2)) == {"type": "at_least_n", "min_success": 2}
    custom = canonicalize_group_policy(type("P", (GroupExecutionPolicy,), {"on_group_finished": lambda *a: None})())
    assert custom["type"] == "__custom__"
    assert isinstance(resolve_group_policy({"type": "at_least_n", "min_success": 1}), AtLeastNGroupPolicy)
    assert AtLeastNGroupPolicy(3).get_name() == "at_least_3"
    with pytest.raises(ValueError):
        CriticalGroupPolicy([])
    with pytest.raises(ValueError):
        AtLeastNGroupPolicy(-1)
    with pytest.raises(ValueError, match="needs arguments"):
        resolve_group_policy("critical")
    with pytest.raises(ValueError):
        canonicalize_group_policy("sometimes")


def test_backends_accept_members_and_strings() -> None:
    assert CoordinationBackend.parse("THREADING") is CoordinationBackend.THREADING
    assert CoordinationBackend.parse(CoordinationBackend.DIRECT) is CoordinationBackend.DIRECT
    with pytest.raises(ConfigError):
        CoordinationBackend.parse("carrier-pigeon")
    assert GroupExecutor.DEFAULT_BACKEND is CoordinationBackend.THREADING


def test_direct_backend_runs_members_in_order_and_leaves_the_queue_alone() -> None:
    """D16: DIRECT runs members in order on the caller's thread and touches nothing else in the queue."""
    order: list[str] = []
    threads: set[int] = set()

    def record(name: str):  # type: ignore[no-untyped-def]
        def fn() -> None:
            order.append(name)
            threads.add(threading.get_ident())
        return fn

    with workflow("direct") as wf:
        start = task("start")(record("start"))
        other = task("other")(record("other"))
        a, b, c = (task(n)(record(n)) for n in ("a", "b", "c"))
        start >> other
        start >> (a | b | c).with_execution(backend="direct")
        wf.execute()
    assert order == ["start", "other", "a", "b", "c"] or order == ["start", "a", "b", "c", "other"]
    assert order.index("a") < order.index("b") < order.index("c")
    assert len(threads) == 1


def test_thread_count_is_configurable() -> None:
    seen: set[str] = set()
    with workflow("pool") as wf:
        ParallelGroup(_members(4, lambda ctx: seen.add(threading.current_thread().name))).with_execution(
            backend=CoordinationBackend.THREADING, backend_config={"thread_count": 1})
        wf.execute()
    assert len(seen) == 1


def test_member_that_loops_with_next_iteration() -> None:
    with workflow("member-loop") as wf:

        @task(inject_context=True, max_cycles=4)
        def looper(ctx, data=None) -> int:
            value = (data or 0) + 1
            if ctx.can_iterate():
                ctx.next_iteration(value)
            return value

        other = task("other")(lambda: "x")
        looper | other
        _, ctx = wf.execute(ret_context=True)
    assert ctx.get_result("looper") == 4


def test_retries_inside_a_group() -> None:
    attempts: list[int] = []
    with workflow("member-retry") as wf:

        @task(retry_policy=RetryPolicy(max_retries=2, initial_interval=0.0))
        def flaky() -> str:
            attempts.append(1)
            if len(attempts) < 3:
                raise ConnectionError("try again")
            return "ok"

        steady = task("steady")(lambda: "steady")
        flaky | steady
        assert wf.execute() == {"flaky": "ok", "steady": "steady"}
    assert len(attempts) == 3


def test_group_hooks_are_called_with_the_workflow_name() -> None:
    """D18."""
    events: list[tuple[str, object]] = []

    class Recorder(EngineHook):
        def on_workflow_start(self, *, workflow_name, context):  # type: ignore[no-untyped-def]
            events.append(("workflow", workflow_name))

        def on_parallel_group_start(self, *, group_id, member_ids, context):  # type: ignore[no-untyped-def]
            events.append(("start", tuple(member_ids)))

        def on_parallel_group_end(self, *, group_id, member_ids, context, results=None):  # type: ignore[no-untyped-def]
            events.append(("end", tuple(sorted(r.task_id for r in results.values() if r.success))))

    with workflow("named-run", hooks=[Recorder()]) as wf:
        task("a")(lambda: 1) | task("b")(lambda: 2)
        wf.execute()
    assert events == [("workflow", "named-run"), ("start", ("a", "b")), ("end", ("a", "b"))]


def test_nested_groups_do_not_deadlock_a_small_pool() -> None:
    with workflow("nested") as wf:
        inner = ParallelGroup([task(f"i{k}")(lambda k=k: k) for k in range(3)]).with_execution(
            backend_config={"thread_count": 1})
        outer = ParallelGroup([inner, task("solo")(lambda: "solo")]).with_execution(backend_config={"thread_count": 1})
        result = wf.execute(outer.task_id)
    assert result["solo"] == "solo"
    assert result[inner.task_id] == {"i0": 0, "i1": 1, "i2": 2}
