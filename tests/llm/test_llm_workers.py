"""Tasks that use the run's LLM client or a registered agent run unchanged on Redis workers.

The client travels as its model and parameters and the worker rebuilds it; an agent registered as a factory is
rebuilt on the worker by calling the factory with the worker's context. Live clients never travel. The model is the
fake OpenAI-compatible server in this process; the worker is a separate ``python -m graflow.worker.main``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("litellm")

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.distributed.llm_services import LLMServiceRegistry, llm_services_key, publish_llm_services
from graflow.distributed.submit import submit_workflow
from graflow.llm import LLMAgent, LLMClient, make_message
from graflow.llm.agents.types import AgentResult
from graflow.observability.metrics import InMemoryMetricsCollector, MetricsHook
from graflow.security.signing import NullSigner
from graflow.testing.fake_llm import FakeLLMServer
from graflow.worker.inprocess import run_workers, spawn_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: A worker process imports LiteLLM before its first model call: allow for it.
RUN_TIMEOUT = 120


@pytest.fixture
def worker(redis_url: str, key_prefix: str) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process on this test's key prefix; its environment names no model endpoint."""
    proc = spawn_worker(redis_url, key_prefix, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _client(server: FakeLLMServer) -> LLMClient:
    return LLMClient("openai/test-model", enable_tracing=False, api_base=server.base_url, api_key="test")


def test_an_injected_client_is_rebuilt_on_the_worker_from_its_configuration(
    fake_llm: FakeLLMServer, redis_client: Any, key_prefix: str, worker: subprocess.Popen[bytes]
) -> None:
    # given a workflow whose task asks for the run's client, submitted with a client for the fake model
    fake_llm.script("hello from the model")
    with workflow("client_on_worker") as wf:

        @task(inject_llm_client=True)
        def ask(llm_client: LLMClient) -> tuple[int, str, str]:
            text = llm_client.completion_text([make_message("user", "say hello")])
            return os.getpid(), llm_client.model, text

    # when a worker runs it
    pid, model, text = submit_workflow(wf, redis_client=redis_client, key_prefix=key_prefix,
                                       llm_client=_client(fake_llm), timeout=RUN_TIMEOUT)
    # then the task ran in the worker process, with the producer's model and endpoint
    assert pid == worker.pid != os.getpid()
    assert (model, text) == ("openai/test-model", "hello from the model")
    assert fake_llm.requests[0].last_user_text() == "say hello"


def test_an_agent_registered_as_a_factory_is_rebuilt_on_the_worker(
    fake_llm: FakeLLMServer, redis_client: Any, key_prefix: str, worker: subprocess.Popen[bytes]
) -> None:
    pytest.importorskip("pydantic_ai")
    # given a workflow that registers a factory of a pydantic-ai agent (it holds an HTTP client once built)
    fake_llm.script("Graflow runs workflows.")
    base_url = fake_llm.base_url

    def make_researcher(ctx: ExecutionContext) -> Any:
        from graflow.llm.agents.pydantic_agent import PydanticLLMAgent, create_pydantic_ai_agent

        inner = create_pydantic_ai_agent("openai/test-model", name="researcher", base_url=base_url, api_key="test",
                                         instructions=f"Answer for session {ctx.session_id}.")
        return PydanticLLMAgent(inner, enable_tracing=False)

    with workflow("agent_on_worker") as wf:
        wf.register_llm_agent("researcher", make_researcher)

        @task(inject_llm_agent="researcher")
        def research(llm_agent: LLMAgent) -> tuple[int, str]:
            return os.getpid(), str(llm_agent.run("What is Graflow?")["output"])

    # when a worker runs it
    run = submit_workflow(wf, redis_client=redis_client, key_prefix=key_prefix, wait=False)
    pid, output = run.result(timeout=RUN_TIMEOUT)
    # then the agent was built there, by the factory, with the worker's context of this run
    assert pid == worker.pid and output == "Graflow runs workflows."
    request = fake_llm.requests[0]
    assert request.messages[0]["content"] == f"Answer for session {run.session_id}."
    assert request.last_user_text() == "What is Graflow?"


class _EchoAgent(LLMAgent):
    """An agent that answers with the client it was built with (no framework needed)."""

    def __init__(self, client: LLMClient) -> None:
        self.client = client

    @property
    def name(self) -> str:
        return "echo"

    def run(self, input_text: str, **kwargs: Any) -> AgentResult:
        text = self.client.completion_text([make_message("user", input_text)])
        return {"output": text, "steps": [], "metadata": {}}


def test_worker_hooks_count_the_model_calls_of_the_tasks_they_run(
    fake_llm: FakeLLMServer, redis_client: Any, key_prefix: str
) -> None:
    # given an in-process worker with a metrics hook, and a run whose agent factory uses the run's client
    fake_llm.script("two words", "three more words")
    collector = InMemoryMetricsCollector()
    with workflow("counted_on_worker") as wf:
        wf.register_llm_agent("echo", lambda ctx: _EchoAgent(ctx.llm_client))

        @task(inject_llm_client=True)
        def first(llm_client: LLMClient) -> str:
            return llm_client.completion_text([make_message("user", "one")])

        @task(inject_llm_agent="echo")
        def second(llm_agent: LLMAgent, first: str) -> str:
            return str(llm_agent.run(first)["output"])

        first >> second

    with run_workers(redis_client, key_prefix, hooks=[MetricsHook(collector)]):
        result = submit_workflow(wf, redis_client=redis_client, key_prefix=key_prefix,
                                 llm_client=_client(fake_llm), timeout=RUN_TIMEOUT)
    # then both calls were made with the travelling client and counted by the worker's hook
    assert result == "three more words"
    assert collector.llm_tokens == {("openai/test-model", "prompt"): 3, ("openai/test-model", "completion"): 5}
    assert len(collector.llm_durations["openai/test-model"]) == 2


def test_only_factories_and_picklable_clients_are_published(
    redis_client: Any, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given a live agent object, a factory, and a client holding a live HTTP client in its parameters
    client = LLMClient("openai/test-model", enable_tracing=False, api_key="k", client=object())
    agents = {"live": _EchoAgent(client), "built": lambda ctx: _EchoAgent(ctx.llm_client)}
    # when they are published for a session
    with caplog.at_level(logging.WARNING):
        assert publish_llm_services(redis_client, key_prefix, "s1", NullSigner(), llm_client=client, agents=agents)
    # then the object agent is left out with a warning naming the fix, and the client keeps its configuration only
    assert "register a factory" in caplog.text.lower() and "'live'" in caplog.text
    published = LLMServiceRegistry(NullSigner()).for_session(redis_client, key_prefix, "s1")
    assert published is not None and list(published.agent_factories) == ["built"]
    assert published.llm_client.model == "openai/test-model" and "client" not in published.llm_client.default_params
    # and a worker context gets the client and an agent built by the factory with that context
    ctx = ExecutionContext.create(_one_task_graph())
    published.install(ctx)
    assert ctx.llm_client is published.llm_client
    assert isinstance(ctx.get_llm_agent("built"), _EchoAgent) and ctx.get_llm_agent("built").client is ctx.llm_client
    # a session that published nothing is remembered as such, and a later publication does not replace it
    assert LLMServiceRegistry(NullSigner()).for_session(redis_client, key_prefix, "s2") is None
    assert not publish_llm_services(redis_client, key_prefix, "s1", NullSigner(), llm_client=client, replace=False)
    assert redis_client.ttl(llm_services_key(key_prefix, "s1")) > 0


def _one_task_graph() -> Any:
    with workflow("one") as wf:

        @task
        def only() -> None:
            return None

    return wf.graph
