"""Parallel groups: backends and error policies (strict, best_effort, critical, at_least_n, custom)."""

from graflow import task, workflow
from graflow.coordination.coordinator import CoordinationBackend
from graflow.core.handlers.group_policy import (
    AtLeastNGroupPolicy,
    BestEffortGroupPolicy,
    CriticalGroupPolicy,
    GroupExecutionPolicy,
    StrictGroupPolicy,
)
from graflow.core.task import ParallelGroup
from graflow.exceptions import GraflowRuntimeError, ParallelGroupError

done: list[str] = []


def member(name, fail=False):
    @task(name)
    def _m():
        done.append(name)
        if fail:
            raise RuntimeError(f"{name} exploded")
        return f"{name} ok"

    return _m


def run(title, policy, failing, backend=None):
    done.clear()
    with workflow(title) as wf:
        members = [member(n, fail=n in failing) for n in ("alpha", "beta", "gamma")]

        @task
        def after():
            done.append("after")
            return "after ran"

        group = ParallelGroup(members, name=f"{title}_group").with_execution(backend=backend, policy=policy)
        group >> after
        try:
            result = wf.execute(group.task_id)
            print(f"{title}: result={result!r}")
        except ParallelGroupError as e:
            print(f"{title}: ParallelGroupError group={e.group_id}")
            print("  failed:", sorted(t for t, _ in e.failed_tasks), "successful:", sorted(e.successful_tasks))
        except GraflowRuntimeError as e:
            print(f"{title}: {type(e).__name__} caused by {type(e.cause).__name__}")
        print("  ran:", sorted(d for d in done if d != "after"), "after ran:", "after" in done)


print("--- strict ---")
run("strict_ok", "strict", set())
run("strict_fail", "strict", {"beta"})
run("strict_object", StrictGroupPolicy(), {"gamma"})

print("--- best effort ---")
run("best_effort", "best_effort", {"alpha", "beta"})
run("best_effort_object", BestEffortGroupPolicy(), {"gamma"})

print("--- critical ---")
run("critical_optional_fails", CriticalGroupPolicy(["alpha"]), {"beta"})
run("critical_fails", CriticalGroupPolicy(["alpha"]), {"alpha"})

print("--- at least n ---")
run("at_least_2_ok", AtLeastNGroupPolicy(2), {"gamma"})
run("at_least_2_fail", AtLeastNGroupPolicy(2), {"beta", "gamma"})
print("name:", AtLeastNGroupPolicy(2).get_name())


class MajorityPolicy(GroupExecutionPolicy):
    def on_group_finished(self, group_id, tasks, results, context):
        ok = [tid for tid, r in results.items() if r.success]
        if len(ok) * 2 <= len(tasks):
            raise ParallelGroupError(f"no majority in {group_id}", group_id=group_id,
                                     failed_tasks=[(t, "failed") for t, r in results.items() if not r.success],
                                     successful_tasks=ok)


print("--- custom policy ---")
run("majority_ok", MajorityPolicy(), {"alpha"})
run("majority_fail", MajorityPolicy(), {"alpha", "beta"})

print("--- backends ---")
run("direct", "strict", set(), backend=CoordinationBackend.DIRECT)
run("direct_string", "best_effort", {"beta"}, backend="direct")
run("threading", "strict", set(), backend=CoordinationBackend.THREADING)

print("--- policy validation ---")
for make in (lambda: CriticalGroupPolicy([]), lambda: AtLeastNGroupPolicy(-1)):
    try:
        make()
    except ValueError:
        print("ValueError")

print("--- execution config ---")
with workflow("config") as wf:
    g = (member("x") | member("y")).with_execution(backend="threading", backend_config={"thread_count": 2},
                                                    policy=AtLeastNGroupPolicy(1))
    print("returns the group:", isinstance(g, ParallelGroup))
    done.clear()
    wf.execute(g.task_id)
    print("ran:", sorted(done))

print("--- strict failure message ---")
with workflow("message") as wf:
    g = ParallelGroup([member("ok1"), member("bad", fail=True)], name="checks")
    try:
        wf.execute("checks")
    except ParallelGroupError as e:
        print("str:", e)
        error = e

print("--- failed member messages ---")
print("failed_tasks:", error.failed_tasks)
