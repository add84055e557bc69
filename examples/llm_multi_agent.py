"""Several agents in one workflow: a planner, two specialists side by side, and a critic on another model.

The workflow is ``planner >> (engineer | analyst) >> critic``:

- ``planner``, ``engineer`` and ``analyst`` are agents. The workflow registers a *factory* per role with
  ``wf.register_llm_agent(role, factory)``; each builds a pydantic-ai agent (wrapped as ``PydanticLLMAgent``) on
  the run's model with that role's instructions. A task receives its agent with ``@task(inject_llm_agent=role)``.
- ``engineer`` and ``analyst`` form a parallel group: both read the plan and answer at the same time.
- ``critic`` receives the run's ``LLMClient`` (``@task(inject_llm_client=True)``) and weighs both answers with a
  *different model for that one call*: ``llm_client.completion_text(messages, model=CRITIC_MODEL)``.

At the end the example prints the conversation in order and the tokens of each model, counted by the run's
``MetricsHook``.

Which models answer:

- ``GRAFLOW_LLM_API_BASE`` (or ``OPENAI_API_BASE``) set: that OpenAI-compatible endpoint, with the agents on
  ``GRAFLOW_LLM_MODEL`` (default ``openai/test-model``) and the critic on ``GRAFLOW_LLM_CRITIC_MODEL`` (default
  ``openai/critic-model``);
- ``--live``: the providers of ``GRAFLOW_LLM_MODEL`` (default ``gpt-5-mini``) and ``GRAFLOW_LLM_CRITIC_MODEL``
  (default ``gpt-5``), with their usual API key variables;
- otherwise: a local scripted server (``graflow.testing.fake_llm``) that answers by role, so the example runs
  offline and the two specialists may ask in any order.

Run it with ``python examples/llm_multi_agent.py`` (needs ``pip install 'graflow[llm,agents]'``).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

if "--live" not in sys.argv:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.workflow import WorkflowContext
from graflow.llm import LLMAgent, LLMClient, make_message
from graflow.llm.agents.pydantic_agent import PydanticLLMAgent, create_pydantic_ai_agent
from graflow.llm.settings import is_installed
from graflow.observability.metrics import InMemoryMetricsCollector, MetricsHook
from graflow.testing.fake_llm import FakeLLMServer, RecordedRequest

QUESTION = "Should our team move its nightly report jobs from cron scripts to a Graflow workflow?"

#: The instructions of each agent; the first sentence names the role.
ROLES = {
    "planner": "You are the planner. Split the question into one point for the engineer and one for the analyst.",
    "engineer": "You are the engineer. Answer the engineering point of the plan in two sentences.",
    "analyst": "You are the analyst. Answer the cost and risk point of the plan in two sentences.",
}

#: What the offline server answers, by the role named in a request's instructions (the critic has none).
OFFLINE_ANSWERS = {
    "planner": "Engineer: can the jobs run as tasks with retries? Analyst: what does the move cost and risk?",
    "engineer": "Each script becomes a task and the retry policy replaces the shell loops. "
                "The report steps that do not depend on each other can run as a parallel group.",
    "analyst": "The move costs about two days of work. The risk is low because the old cron entries can stay "
               "until the workflow has run for a week.",
    "critic": "Move: the engineering gain is clear and the risk is contained. Keep cron as a fallback for a week.",
}

ROLE_PATTERN = re.compile(r"You are the (\w+)\.")


def offline_answer(request: RecordedRequest) -> str:
    """The scripted server's reply: the answer of the role whose instructions the request carries."""
    system = " ".join(str(m.get("content")) for m in request.messages if m.get("role") == "system")
    match = ROLE_PATTERN.search(system)
    return OFFLINE_ANSWERS.get(match.group(1) if match else "critic", f"echo: {request.last_user_text()}")


@contextmanager
def models() -> Iterator[str]:
    """Point the run at its models (see the module docstring); yields the critic's model."""
    base = os.environ.get("GRAFLOW_LLM_API_BASE") or os.environ.get("OPENAI_API_BASE")
    if "--live" in sys.argv:
        os.environ.setdefault("GRAFLOW_LLM_MODEL", "gpt-5-mini")
        yield os.environ.get("GRAFLOW_LLM_CRITIC_MODEL", "gpt-5")
    elif base:
        os.environ["GRAFLOW_LLM_API_BASE"] = base
        os.environ.setdefault("GRAFLOW_LLM_API_KEY", os.environ.get("OPENAI_API_KEY") or "test")
        os.environ.setdefault("GRAFLOW_LLM_MODEL", "openai/test-model")
        yield os.environ.get("GRAFLOW_LLM_CRITIC_MODEL", "openai/critic-model")
    else:
        print("(no GRAFLOW_LLM_API_BASE set: answering from a local scripted server)")
        with FakeLLMServer(default=offline_answer) as server:
            os.environ.update(GRAFLOW_LLM_API_BASE=server.base_url, GRAFLOW_LLM_API_KEY="test",
                              GRAFLOW_LLM_MODEL="openai/test-model")
            yield "openai/critic-model"


def agent_factory(role: str) -> Callable[[ExecutionContext], PydanticLLMAgent]:
    """A factory of the ``role`` agent: called once per run, with that run's context."""

    def make_agent(ctx: ExecutionContext) -> PydanticLLMAgent:
        inner = create_pydantic_ai_agent(ctx.llm_client.model, name=role, instructions=ROLES[role])
        return PydanticLLMAgent(inner, enable_tracing=False)

    return make_agent


def build(critic_model: str, metrics: InMemoryMetricsCollector) -> WorkflowContext:
    with workflow("llm_multi_agent", hooks=[MetricsHook(metrics)]) as wf:
        for role in ROLES:
            wf.register_llm_agent(role, agent_factory(role))

        @task(inject_llm_agent="planner")
        def planner(llm_agent: LLMAgent) -> str:
            return str(llm_agent.run(QUESTION)["output"])

        @task(inject_llm_agent="engineer")
        def engineer(llm_agent: LLMAgent, planner: str) -> str:
            return str(llm_agent.run(f"Question: {QUESTION}\nPlan: {planner}")["output"])

        @task(inject_llm_agent="analyst")
        def analyst(llm_agent: LLMAgent, planner: str) -> str:
            return str(llm_agent.run(f"Question: {QUESTION}\nPlan: {planner}")["output"])

        @task(inject_llm_client=True)
        def critic(llm_client: LLMClient, engineer: str, analyst: str) -> str:
            # ``model=`` picks another model for this call only; the run's other calls keep the default model.
            messages = [make_message("system", "Weigh both answers and give a verdict in one or two sentences."),
                        make_message("user", f"Question: {QUESTION}\nEngineer: {engineer}\nAnalyst: {analyst}")]
            return llm_client.completion_text(messages, model=critic_model, generation_name="critic")

        planner >> (engineer | analyst) >> critic
    return wf


def main() -> None:
    if not is_installed("pydantic_ai"):
        print("This example needs pydantic-ai: pip install 'graflow[llm,agents]'")
        return
    metrics = InMemoryMetricsCollector()
    with models() as critic_model:
        wf = build(critic_model, metrics)
        _, ctx = wf.execute("planner", ret_context=True)

    print(f"question: {QUESTION}")
    for speaker in ROLES:
        print(f"[{speaker} @ {ctx.get_llm_agent(speaker).metadata['model']}] {ctx.get_result(speaker)}")
    print(f"[critic @ {critic_model}] {ctx.get_result('critic')}")

    print("tokens per model:")
    for model in sorted(metrics.llm_durations):
        prompt, completion = metrics.llm_tokens[(model, "prompt")], metrics.llm_tokens[(model, "completion")]
        calls = len(metrics.llm_durations[model])
        print(f"  {model}: {calls} call(s), {prompt} prompt + {completion} completion = {prompt + completion}")


if __name__ == "__main__":
    main()
