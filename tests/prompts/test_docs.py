"""docs/prompts.md is true: its YAML files are written to a prompts folder and its Python snippets run in order."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from graflow.prompts import PromptManagerFactory

DOC = Path(__file__).resolve().parents[2] / "docs" / "prompts.md"
FENCE = re.compile(r"^```(?P<lang>\w*)[^\n]*\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)


def snippets(language: str) -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 2, match.group("body"))
        for match in FENCE.finditer(text)
        if match.group("lang") == language
    ]


@pytest.fixture
def langfuse_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    pytest.importorskip("langfuse")
    from tests.prompts.langfuse_server import SECRET_KEY, LangfuseServer

    running = LangfuseServer()
    state = running.start()
    state.add("onboarding", 1, "Welcome, {{ name }}.", ["staging"])
    state.add("onboarding", 2, "Welcome aboard, {{ name }}!", ["production", "latest"])
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", f"pk-lf-{uuid.uuid4().hex}")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("LANGFUSE_HOST", state.url)
    monkeypatch.setenv("LANGFUSE_TRACING_ENABLED", "false")
    monkeypatch.delenv("LANGFUSE_BASE_URL", raising=False)
    yield
    running.stop()


def test_the_page_has_yaml_files_and_python_snippets() -> None:
    assert len(snippets("yaml")) >= 3
    assert len(snippets("python")) >= 8


def test_every_python_snippet_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, langfuse_server: None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRAFLOW_PROMPTS_DIR", raising=False)
    monkeypatch.setattr(PromptManagerFactory, "_custom", {})  # the page registers a backend
    for _, body in snippets("yaml"):
        header = body.splitlines()[0]
        assert header.startswith("# prompts/"), f"YAML snippet without a '# prompts/<file>' header: {header!r}"
        path = tmp_path / header[2:].strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")

    namespace: dict[str, object] = {"__name__": "docs_prompts"}
    for line, body in snippets("python"):
        code = compile(body, f"{DOC}:{line}", "exec")
        exec(code, namespace)  # noqa: S102 - running the documentation is the point of this test
