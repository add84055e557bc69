"""D27: parallel-group members see the run's services — its LLM client, agents and prompt manager."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.core.services import RunServices


class Client:
    """A stand-in LLM client that pickles (as graflow.llm.LLMClient does, by its configuration)."""

    def __init__(self, model: str) -> None:
        self.model = model


class Agent:
    name = "helper"

    def run(self, text: str) -> str:
        return f"agent:{text}"


def test_group_members_get_the_run_client_agents_and_prompt_manager() -> None:
    client, prompts = Client("test-model"), object()
    with workflow("services", prompt_manager=prompts) as wf:
        wf.register_llm_agent("helper", Agent())

        @task(inject_llm_client=True)
        def with_client(llm_client: Any) -> str:
            return str(llm_client.model)

        @task(inject_llm_agent="helper")
        def with_agent(llm_agent: Any) -> str:
            return str(llm_agent.run("x"))

        @task(inject_context=True)
        def with_prompts(ctx: Any) -> bool:
            return ctx.prompt_manager is prompts

        group = with_client | with_agent | with_prompts
        ctx = wf.create_context(group.task_id)
        ctx.services.llm_client = client
        result = WorkflowEngine().execute(ctx)
    assert result == {"with_client": "test-model", "with_agent": "agent:x", "with_prompts": True}


def test_a_client_given_to_create_is_the_one_members_get() -> None:
    client = Client("given")
    with workflow("given") as wf:
        a = task("a", inject_llm_client=True)(lambda llm_client: llm_client)
        b = task("b", inject_llm_client=True)(lambda llm_client: llm_client)
        group = a | b
    ctx = ExecutionContext.create(wf.graph, group.task_id, llm_client=client)
    assert WorkflowEngine().execute(ctx) == {"a": client, "b": client}


def test_a_picklable_client_travels_with_the_run_and_live_services_do_not() -> None:
    services = RunServices(llm_client=Client("kept"))
    services.set("feedback_manager", object())
    services.register_llm_agent("helper", Agent())
    restored = pickle.loads(pickle.dumps(services))
    assert restored.llm_client.model == "kept"
    assert restored.get("feedback_manager") is None and restored.llm_agents == {}


def test_an_unpicklable_client_is_left_behind_and_a_default_is_made_on_use(monkeypatch: pytest.MonkeyPatch) -> None:
    services = RunServices(llm_client=lambda: None)  # a lambda does not pickle with the standard pickler
    restored = pickle.loads(pickle.dumps(services))
    assert not restored.has_llm_client
