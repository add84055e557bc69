"""The LLM examples run against a fake server named by GRAFLOW_LLM_API_BASE, as a user would run them.

(``tests/test_examples.py`` also runs them without it, where they start their own scripted server.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("litellm")
pytestmark = pytest.mark.slow

from graflow.testing.fake_llm import FakeLLMServer, RecordedRequest, tool_call

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _run(name: str, server: FakeLLMServer, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRAFLOW_LLM_API_BASE": server.base_url,
           "GRAFLOW_LLM_API_KEY": "test", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("GRAFLOW_LLM_MODEL", None)
    env.pop("GRAFLOW_LLM_CRITIC_MODEL", None)
    env.update(extra_env)
    return subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=180,
                          env=env, cwd=EXAMPLES)


def test_simple_client_example_talks_to_the_configured_endpoint(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("first answer", "streamed words here", tool_call("local_time", {"city": "Lima"}),
                    "It is 09:00 in Lima.", "async answer")
    proc = _run("llm_simple_client.py", fake_llm)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "local scripted server" not in out
    assert "answer: first answer" in out and "stream: streamed| words| here" in out
    assert 'tool call: local_time({"city": "Lima"}) -> 09:00 in Lima' in out
    assert "tools: It is 09:00 in Lima." in out and "async: async answer" in out
    requests = fake_llm.requests
    assert len(requests) == 5 and requests[1].stream and requests[3].messages[-1]["role"] == "tool"


def test_agent_workflow_example_runs_its_tasks_against_the_configured_endpoint(fake_llm: FakeLLMServer) -> None:
    pytest.importorskip("pydantic_ai")
    fake_llm.script(tool_call("lookup_fact", {"topic": "graflow"}), "Research notes.", "A short draft.",
                    "Fine.")
    proc = _run("llm_agent_workflow.py", fake_llm)
    assert proc.returncode == 0, proc.stderr
    assert "draft:  A short draft." in proc.stdout and "review: Fine." in proc.stdout
    assert "4 LLM calls" not in proc.stdout and "3 LLM calls" in proc.stdout
    research_followup = fake_llm.requests[1]
    assert research_followup.messages[-1]["content"].startswith("Graflow runs Python functions")
    assert fake_llm.requests[2].messages[-1]["content"] == "Research notes."


def _answer_by_role(request: RecordedRequest) -> str:
    """Replies that do not depend on the order of the requests: the specialists of a parallel group race."""
    system = " ".join(str(m.get("content")) for m in request.messages if m.get("role") == "system")
    for role in ("planner", "engineer", "analyst"):
        if f"You are the {role}." in system:
            return f"{role} says ok."
    return "Verdict: go."


@pytest.mark.parametrize(("critic_env", "critic_model"), [({}, "openai/critic-model"),
                                                          ({"GRAFLOW_LLM_CRITIC_MODEL": "openai/judge"},
                                                           "openai/judge")],
                         ids=["default-critic-model", "critic-model-from-env"])
def test_multi_agent_example_runs_agents_in_parallel_and_overrides_the_critic_model(
        fake_llm: FakeLLMServer, critic_env: dict[str, str], critic_model: str) -> None:
    pytest.importorskip("pydantic_ai")
    fake_llm.default = _answer_by_role
    proc = _run("llm_multi_agent.py", fake_llm, **critic_env)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "local scripted server" not in out
    assert "[planner @ test-model] planner says ok." in out
    assert "[engineer @ test-model] engineer says ok." in out and "[analyst @ test-model] analyst says ok." in out
    assert f"[critic @ {critic_model}] Verdict: go." in out
    assert f"  {critic_model}: 1 call(s)" in out and "  test-model: 3 call(s)" in out
    requests = fake_llm.requests
    assert sorted(r.model for r in requests) == sorted(["test-model"] * 3 + [critic_model.split("/", 1)[1]])
    critic_request = requests[-1]
    assert critic_request.model == critic_model.split("/", 1)[1]
    assert "Engineer: engineer says ok." in critic_request.messages[-1]["content"]
    assert "Analyst: analyst says ok." in critic_request.messages[-1]["content"]


def test_pydantic_tools_example_runs_the_tools_the_model_asks_for(fake_llm: FakeLLMServer) -> None:
    pytest.importorskip("pydantic_ai")
    fake_llm.script(tool_call("lookup_peak", {"name": "Denali"}),
                    tool_call("convert_units", {"value": 6190, "from_unit": "m", "to_unit": "mi"}),
                    "Denali is about 3.8 mi high.")
    proc = _run("llm_pydantic_tools.py", fake_llm)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "local scripted server" not in out
    assert "  lookup_peak: The height of a mountain in metres." in out
    assert "  convert_units: Convert a length between units." in out
    assert 'tool call: lookup_peak({"name":"Denali"}) -> Denali: 6190 m' in out
    assert 'tool call: convert_units({"value":6190,"from_unit":"m","to_unit":"mi"}) -> 6190 m = 3.8 mi' in out
    assert "  response (final): Denali is about 3.8 mi high." in out
    assert "usage: 3 requests" in out and out.rstrip().endswith("answer: Denali is about 3.8 mi high.")
    first, second, third = fake_llm.requests
    assert {tool["function"]["name"] for tool in first.tools} == {"lookup_peak", "convert_units"}
    assert second.messages[-1]["role"] == "tool" and second.messages[-1]["content"] == "Denali: 6190 m"
    assert third.messages[-1]["content"] == "6190 m = 3.8 mi"
