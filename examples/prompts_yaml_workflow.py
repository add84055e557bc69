"""Prompt management: a support workflow whose tasks render versioned prompts kept in YAML files.

Run it with ``python examples/prompts_yaml_workflow.py``; it needs the ``prompts`` extra
(``pip install 'graflow[prompts]'``) and nothing else. The prompts live next to this file in ``prompts/``:
``greetings.yaml`` holds the text prompt ``welcome`` with a ``production`` and a ``staging`` label, and
``support/replies.yaml`` holds the chat prompt ``support/reply``. The workflow gets the manager through
``workflow(..., prompt_manager=pm)``, and each task reads it as ``ctx.prompt_manager``. No model is called: the
rendered chat messages are printed, ready for any chat completion API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graflow import task, workflow
from graflow.core.task_context import TaskExecutionContext
from graflow.core.workflow import WorkflowContext
from graflow.prompts import PromptCompilationError, YAMLPromptManager

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"

TICKET = {
    "customer": "Ada",
    "product": "Graflow",
    "tier": "pro",
    "question": "How do I run two tasks in parallel?",
}


def support_workflow(pm: YAMLPromptManager, greeting_label: str) -> WorkflowContext:
    """load_ticket >> greet >> compose: greet uses the ``welcome`` prompt with ``greeting_label``."""
    with workflow("support_reply", prompt_manager=pm) as wf:

        @task
        def load_ticket() -> dict[str, Any]:
            return dict(TICKET)

        @task(inject_context=True)
        def greet(ctx: TaskExecutionContext) -> str:
            ticket = ctx.get_result("load_ticket")
            prompt = ctx.prompt_manager.get_text_prompt("welcome", label=greeting_label)
            ctx.get_channel().set("greeting_prompt", f"{prompt.name} {prompt.label} v{prompt.version}")
            return prompt.render(name=ticket["customer"], product=ticket["product"])

        @task(inject_context=True)
        def compose(ctx: TaskExecutionContext) -> list[dict[str, Any]]:
            ticket = ctx.get_result("load_ticket")
            prompt = ctx.prompt_manager.get_chat_prompt("support/reply")
            return prompt.render(greeting=ctx.get_result("greet"), **ticket)

        load_ticket >> greet >> compose
    return wf


def main() -> None:
    pm = YAMLPromptManager(prompts_dir=PROMPTS_DIR)

    print(f"Prompts in {PROMPTS_DIR.name}/:")
    for row in pm.list_prompts():
        print(f"  {row.name:<14} {row.type:<5} {row.label:<11} v{row.version}")

    for label in ("production", "staging"):
        messages, ctx = support_workflow(pm, label).execute(ret_context=True)
        print(f"\nMessages built with {ctx.get_channel().get('greeting_prompt')}:")
        for message in messages:
            print(f"  [{message['role']}] {message['content']}")

    try:
        pm.get_text_prompt("welcome").render(name="Ada")
    except PromptCompilationError as error:
        print(f"\nRendering without 'product' fails: {error}")


if __name__ == "__main__":
    main()
