"""``graflow server``: its flags become the server's configuration, and its workflows are loaded from specs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from graflow.api import server as server_module
from graflow.cli.main import main
from graflow.cli.server import load_workflows

FLOW = '''
from graflow import task, workflow

with workflow("{name}") as wf:

    @task
    def only() -> str:
        return "{name}"
'''


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What ``serve`` was called with (nothing is served)."""
    seen: dict[str, Any] = {}

    def fake_serve(config: Any, workflows: Any) -> None:
        seen.update(config=config, workflows=list(workflows))

    monkeypatch.setattr(server_module, "serve", fake_serve)
    return seen


def write_flows(folder: Path, *names: str) -> None:
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"{name}.py").write_text(textwrap.dedent(FLOW.format(name=name)))


def test_every_flag_reaches_the_configuration(served: dict[str, Any], tmp_path: Path) -> None:
    write_flows(tmp_path / "flows", "nightly")
    tokens = tmp_path / "tokens"
    tokens.write_text("viewer:v\n")
    code = main(["server", "--app", f"{tmp_path / 'flows' / 'nightly.py'}:wf", "--host", "0.0.0.0", "--port", "9001",
                 "--store", "sqlite:///x.db", "--redis-url", "redis://r:6379/1", "--redis-key-prefix", "p",
                 "--tokens-file", str(tokens), "--insecure", "--feedback-dir", "fb", "--no-resume",
                 "--cors-origin", "https://a", "--cors-origin", "https://b", "--log-level", "warning"])
    assert code == 0
    config = served["config"]
    assert (config.host, config.port, config.store, config.redis_url, config.redis_key_prefix) == (
        "0.0.0.0", 9001, "sqlite:///x.db", "redis://r:6379/1", "p")
    assert (config.tokens_file, config.insecure, config.resume, config.log_level) == (str(tokens), True, False,
                                                                                       "warning")
    assert config.feedback_config == {"data_dir": "fb"} and config.cors_origins == ["https://a", "https://b"]
    [(workflow, spec)] = served["workflows"]
    assert workflow.name == "nightly" and spec == f"{tmp_path / 'flows' / 'nightly.py'}:wf"


def test_the_defaults(served: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_REDIS_URL", "redis://from-env:6379/0")
    assert main(["server"]) == 0
    config = served["config"]
    assert (config.host, config.port, config.store, config.redis_url, config.insecure, config.resume) == (
        "127.0.0.1", 8000, None, "redis://from-env:6379/0", False, True)
    assert config.feedback_backend == "filesystem" and config.feedback_config == {"data_dir": "feedback_data"}
    assert served["workflows"] == []


def test_a_workflows_folder_serves_each_file_but_helpers(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flows(folder, "alpha", "beta")
    (folder / "_shared.py").write_text("raise RuntimeError('not a workflow file')\n")
    (folder / "sub").mkdir()
    loaded = load_workflows((), str(folder))
    assert [(wf.name, spec) for wf, spec in loaded] == [("alpha", str(folder / "alpha.py")),
                                                         ("beta", str(folder / "beta.py"))]


def test_a_refused_configuration_exits_with_its_reason(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "tokens"
    bad.write_text("admin:x\n")
    assert main(["server", "--tokens-file", str(bad), "--store", "memory://"]) == 2
    assert "graflow server: Unknown API role 'admin'" in capsys.readouterr().err
    assert main(["server", "--app", str(tmp_path / "missing.py"), "--store", "memory://"]) == 2
    assert "no such file" in capsys.readouterr().err
