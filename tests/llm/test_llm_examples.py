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

from graflow.testing.fake_llm import FakeLLMServer, tool_call

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _run(name: str, server: FakeLLMServer) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRAFLOW_LLM_API_BASE": server.base_url,
           "GRAFLOW_LLM_API_KEY": "test", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("GRAFLOW_LLM_MODEL", None)
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
