"""``graflow validate``: one broken workflow per finding (tests/cli/broken), a clean one, and bad input.

Every finding must be something that does fail when the workflow runs: the broken workflows are also run here, and
the clean one runs to its end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, TypedDict

import cloudpickle
import pytest

from graflow import task, workflow
from graflow.cli._loading import WorkflowLoadError, load_workflow
from graflow.core.handlers.group_policy import AtLeastNGroupPolicy
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import GraflowError
from graflow.validation import validate_workflow

REPO_ROOT = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).resolve().parent / "broken"
RELATIVE = BROKEN.relative_to(REPO_ROOT)


def graflow(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m graflow.cli.main ARGS`` in a child process, run from ``cwd``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, "-m", "graflow.cli.main", *args], capture_output=True, text=True,
                          timeout=60, env=env, cwd=cwd)


def def_line(file: str, function: str) -> int:
    """The line of ``def function`` in a broken workflow file."""
    lines = (BROKEN / file).read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if re.match(rf"\s*def {function}\(", text))


# file, extra arguments, task, line of this function's def, what the message says
BROKEN_CASES = [
    ("no_start.py", [], "poll", "poll", "no start node: every task has a predecessor"),
    ("two_starts.py", [], "extract_orders", "extract_orders",
     "ambiguous start node: 2 tasks have no predecessor (extract_orders, extract_refunds)"),
    ("unknown_handler.py", [], "train", "train", "handler 'gpu' is not registered (registered: direct)"),
    ("endless_loop.py", [], "attempt", "attempt", "loop attempt -> check -> attempt never ends"),
    ("missing_parameter.py", [], "transform", "transform", "parameter 'rows' gets no value"),
    ("bad_output_ref.py", [], "announce", "publish",
     "takes load.outputs['total'], but 'load' is not upstream of 'announce'"),
    ("unpicklable.py", ["--distributed"], "guarded_append", "append",
     "cannot be pickled for a worker: TypeError: cannot pickle '_thread.lock' object"),
]


@pytest.mark.parametrize(("file", "extra", "task_id", "function", "message"), BROKEN_CASES,
                         ids=[case[0] for case in BROKEN_CASES])
def test_each_broken_workflow_gets_its_one_finding_at_the_task_definition(
    file: str, extra: list[str], task_id: str, function: str, message: str
) -> None:
    result = graflow("validate", str(RELATIVE / file), *extra)
    assert result.returncode == 1, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"{RELATIVE / file}:{def_line(file, function)}: task '{task_id}': ")
    assert message in line
    assert "Traceback" not in result.stderr


def test_a_group_policy_that_can_never_pass_is_reported_where_the_workflow_sets_it() -> None:
    result = graflow("validate", str(RELATIVE / "group_policy.py"))
    assert result.returncode == 1
    source = (BROKEN / "group_policy.py").read_text().splitlines()
    where = next(i for i, text in enumerate(source, 1) if "with_execution" in text)
    assert result.stdout.splitlines() == [
        f"{RELATIVE / 'group_policy.py'}:{where}: workflow: cannot be loaded: ValueError: Group 'ParallelGroup_1' "
        "has 2 members; AtLeastNGroupPolicy(3) can never pass"
    ]


def test_the_clean_workflow_has_no_findings_even_for_workers() -> None:
    result = graflow("validate", str(RELATIVE / "clean.py"), "--distributed")
    assert (result.returncode, result.stdout) == (0, "")
    assert "workflow 'clean_etl': no findings" in result.stderr


def test_pickling_is_checked_only_for_distributed_runs() -> None:
    assert graflow("validate", str(RELATIVE / "unpicklable.py")).returncode == 0


def test_json_output_lists_each_finding_with_file_line_kind_and_task() -> None:
    result = graflow("validate", str(RELATIVE / "missing_parameter.py"), "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert (document["workflow"], document["ok"], document["file"]) == (
        "missing_parameter", False, str(RELATIVE / "missing_parameter.py"))
    (finding,) = document["findings"]
    assert finding["kind"] == "parameter"
    assert finding["task"] == "transform"
    assert finding["line"] == def_line("missing_parameter.py", "transform")
    clean = json.loads(graflow("validate", str(RELATIVE / "clean.py"), "--json").stdout)
    assert (clean["ok"], clean["findings"], clean["tasks_checked"]) == (True, [], 8)


def test_a_run_parameter_or_a_chosen_start_settles_the_finding() -> None:
    rows = graflow("validate", str(RELATIVE / "missing_parameter.py"), "-p", 'rows=[{"id": 1}]')
    assert rows.returncode == 0, rows.stdout
    start = graflow("validate", str(RELATIVE / "two_starts.py"), "--start", "extract_orders")
    assert start.returncode == 0, start.stdout


def test_a_module_spec_points_findings_at_the_module_file() -> None:
    result = graflow("validate", "tests.cli.broken.endless_loop:wf")
    assert result.returncode == 1
    assert result.stdout.startswith(f"{RELATIVE / 'endless_loop.py'}:{def_line('endless_loop.py', 'attempt')}: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "no/such/flow.py"], "graflow validate: no such file: no/such/flow.py"),
        (["validate", str(RELATIVE / "clean.py"), "-p", "rows"], "graflow validate: bad parameter 'rows'"),
        (["validate", str(RELATIVE / "clean.py:nightly")], "has no workflow named 'nightly'"),
        (["validate", str(RELATIVE / "two_starts.py"), "--start", "extract_order"],
         "graflow validate: --start: no task named 'extract_order' in the workflow; did you mean 'extract_orders'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = graflow(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


# -- every finding is a real failure ------------------------------------------------------------------------------
def load(file: str) -> Any:
    return load_workflow(str(BROKEN / file))


def test_the_clean_workflow_runs_to_its_end() -> None:
    assert load("clean.py").execute() is not None


@pytest.mark.parametrize(
    ("file", "error"),
    [
        ("no_start.py", "No start node specified"),
        ("two_starts.py", "Multiple start nodes found"),
        ("unknown_handler.py", "Unknown handler type: gpu"),
        ("missing_parameter.py", "parameter 'rows' has no value"),
        ("bad_output_ref.py", "'load' is not upstream of 'announce'"),
    ],
)
def test_the_broken_workflows_do_fail_when_run(file: str, error: str) -> None:
    with pytest.raises(GraflowError) as failure:
        load(file).execute()
    assert error in str(failure.value)


def test_the_endless_loop_does_run_until_max_steps() -> None:
    _, ctx = load("endless_loop.py").execute(max_steps=30, ret_context=True)
    assert ctx.run.status == "max_steps_reached"


def test_the_unpicklable_workflow_cannot_travel_to_a_worker() -> None:
    with pytest.raises(TypeError, match=r"_thread\.lock"):
        cloudpickle.dumps(load("unpicklable.py").graph)


def test_the_group_policy_workflow_cannot_even_be_loaded() -> None:
    with pytest.raises(WorkflowLoadError, match="can never pass"):
        load("group_policy.py")


# -- the checks, in this process ----------------------------------------------------------------------------------
class Split(TypedDict):
    train: list[int]
    test: list[int]


def kinds(wf: Any, **options: Any) -> list[tuple[str, str | None, str]]:
    return [(f.kind, f.task, f.message) for f in validate_workflow(wf, **options)]


def test_a_typed_dict_result_resolves_only_the_keys_it_names() -> None:
    with workflow("typed") as wf:

        @task
        def split() -> Split:
            return {"train": [1], "test": [2]}

        @task
        def fit(train: list[int], validation: list[int]) -> int:
            return len(train) + len(validation)

        split >> fit
    ((kind, task_id, message),) = kinds(wf)
    assert (kind, task_id) == ("parameter", "fit")
    assert "parameter 'validation' gets no value" in message


def test_an_unannotated_or_plain_dict_result_is_assumed_to_resolve() -> None:
    with workflow("untyped") as wf:

        @task
        def source():  # type: ignore[no-untyped-def]
            return {"anything": 1}

        @task
        def middle(anything: int) -> dict[str, int]:
            return {"else": anything}

        @task
        def sink(other: int) -> int:
            return other

        source >> middle >> sink
    assert kinds(wf) == []


def test_a_context_task_that_names_the_key_may_have_set_it() -> None:
    with workflow("channel") as wf:

        @task(inject_context=True)
        def prepare(ctx: TaskExecutionContext) -> None:
            ctx.get_channel().set("threshold", 0.5)

        @task
        def decide(threshold: float, margin: float) -> bool:
            return threshold > margin

        prepare >> decide
    assert [(k, t) for k, t, m in kinds(wf)] == [("parameter", "decide")]
    assert "'margin'" in kinds(wf)[0][2]


def test_group_members_see_what_ran_before_the_group_and_successors_see_the_members() -> None:
    with workflow("groups") as wf:

        @task
        def config() -> int:
            return 1

        @task
        def left(config: int) -> int:
            return config

        @task
        def right(config: int) -> int:
            return config

        @task
        def join(left: int, right: int) -> int:
            return left + right

        config >> (left | right) >> join
    assert kinds(wf) == []


def test_a_group_policy_edited_after_with_execution_is_still_checked() -> None:
    with workflow("edited") as wf:

        @task
        def a() -> int:
            return 1

        @task
        def b() -> int:
            return 2

        group = (a | b).with_execution(policy=AtLeastNGroupPolicy(2))
    group._execution_config["policy"] = {"type": "at_least_n", "min_success": 3}
    ((kind, task_id, message),) = kinds(wf)
    assert (kind, task_id) == ("group_policy", group.task_id)
    assert "needs 3 members to succeed, but the group has 2 (a, b): it always fails" in message
    group._execution_config["policy"] = {"type": "critical", "critical_task_ids": ["c"]}
    assert "policy critical names 'c', not members of the group" in kinds(wf)[0][2]


@task
def score(values: list[int]) -> int:
    """A template: only its bound instances are tasks of a workflow."""
    return len(values)


def test_an_output_reference_to_a_key_the_typed_result_lacks_is_reported() -> None:
    with workflow("refs") as wf:

        @task
        def split() -> Split:
            return {"train": [1], "test": [2]}

        split >> score(task_id="score_validation", values=split.outputs["validation"])
    ((kind, task_id, message),) = kinds(wf)
    assert (kind, task_id) == ("output_reference", "score_validation")
    assert "'split' returns Split (a TypedDict), which has no key 'validation' (keys: test, train)" in message


def test_a_loop_with_a_task_that_takes_its_context_is_not_reported() -> None:
    with workflow("loop") as wf:

        @task
        def start() -> int:
            return 0

        @task(inject_context=True)
        def attempt(ctx: TaskExecutionContext) -> None:
            ctx.terminate_workflow("done")

        @task
        def check() -> bool:
            return True

        start >> attempt >> check >> attempt
    assert kinds(wf) == []


# -- agreement with the engine on the compatibility programs ------------------------------------------------------
COMPAT_PROGRAMS = sorted((REPO_ROOT / "tests" / "compat" / "programs").glob("*.py"))

#: Runs a program with every ``wf.execute(...)`` validated first (same start node and channel seed); prints one
#: JSON line per run: the findings, and the error the run ended with (None when it succeeded).
AGREEMENT_PROBE = """
import contextlib, io, json, runpy, sys
from graflow.core.workflow import WorkflowContext
from graflow.validation import validate_workflow

original = WorkflowContext.execute
runs = []

def execute(self, start_node=None, max_steps=10000, ret_context=False, initial_channel=None, **seed):
    given = {**(initial_channel or {}), **seed}
    findings = [f.format() for f in validate_workflow(self, parameters=given, start=start_node)]
    error = None
    try:
        return original(self, start_node, max_steps, ret_context, initial_channel, **seed)
    except BaseException as exc:
        error = type(exc).__name__
        raise
    finally:
        runs.append({"workflow": self.name, "findings": findings, "error": error})

WorkflowContext.execute = execute
with contextlib.redirect_stdout(io.StringIO()):
    runpy.run_path(sys.argv[1], run_name="__main__")
print(json.dumps(runs))
"""


@pytest.mark.parametrize("program", COMPAT_PROGRAMS, ids=[p.stem for p in COMPAT_PROGRAMS])
def test_a_run_that_succeeds_has_no_findings_and_one_refused_at_its_start_has_some(
    program: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONHASHSEED": "0"}
    probe = subprocess.run([sys.executable, "-c", AGREEMENT_PROBE, str(program)], capture_output=True, text=True,
                           timeout=120, env=env, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    runs = json.loads(probe.stdout.splitlines()[-1])
    false_alarms = [run for run in runs if run["error"] is None and run["findings"]]
    assert false_alarms == []
    # and what the engine rejects before the first task runs was found
    missed = [run for run in runs if run["error"] == "GraphCompilationError" and not run["findings"]]
    assert missed == []
