"""The human-in-the-loop examples print what they promise, and docs/hitl.md is true to the code.

The page's Python blocks run in order in one namespace (in a fresh working directory); its shell blocks are checked
against the code: every ``python -m graflow.api`` line parses, every curl call names a route of the app, every
extra exists. Its tables of flags, endpoints, feedback types and statuses list exactly what the code has.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from graflow.hitl.types import STATUSES, FeedbackType

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DOC = ROOT / "docs" / "hitl.md"
FENCE = re.compile(r"^```(?P<lang>\w*)[^\n]*\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)


def run_example(name: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GRAFLOW_API_TOKEN", None)
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=120,
                          env=env, cwd=EXAMPLES)  # fmt: skip
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_the_approval_example_approves_one_build_and_holds_the_other() -> None:
    out = run_example("hitl_approval.py").stdout.splitlines()
    assert out == [
        "reviewer sees: Deploy build 41 to production? {'build': 41, 'tests': 'passed'}",
        "run completed: build 41 deployed (alice@example.com: tests are green)",
        "reviewer sees: Deploy build 42 to production? {'build': 42, 'tests': 'passed'}",
        "run completed: build 42 not deployed (alice@example.com: wait for the security review)",
    ]


def test_the_timeout_example_pauses_is_answered_and_resumes() -> None:
    proc = run_example("hitl_timeout_resume.py")
    out = proc.stdout
    assert out.count("draft: writing the newsletter (runs once)") == 1
    assert out.count("edit: asking the editor") == 2  # the paused task runs again on resume
    assert "first run returned None, status 'paused'" in out
    assert re.search(r"^checkpoint: checkpoints/[0-9a-f]{32}/session_[0-9a-f]{32}_step_1_\d+\.pkl$", out, re.M)
    assert "request 'timeout': Headline for 'Graflow 0.3 is out'?" in out
    assert "recorded checkpoint: True" in out
    assert "answered; request is now 'completed'" in out
    assert "resuming: reason 'feedback_timeout', task 'edit'" in out
    assert ("resumed run returned \"published 'Graflow 0.3: pause, answer, resume' (headline by editor@example.com)\""
            ", status 'completed'") in out  # fmt: skip
    assert "channel 'headline' = 'Graflow 0.3: pause, answer, resume'" in out
    assert "paused at task 'edit'" in proc.stderr  # the engine's warning


@pytest.mark.integration
def test_the_rest_api_example_is_answered_over_http() -> None:
    out = run_example("hitl_rest_api.py").stdout
    assert re.search(r"^feedback API at http://127\.0\.0\.1:\d+ \(web UI: .*/ui/feedback/\)$", out, re.M)
    assert "GET  /api/feedback -> 1 pending: 'Send the quarterly report?' (approval)" in out
    assert "POST /api/feedback/<id>/respond -> approved=True by bob" in out
    assert "run completed: sent (bob: the numbers add up)" in out
    assert "channel 'sign_off' = True" in out


# -- docs/hitl.md ---------------------------------------------------------------------------------------------------
def blocks(language: str) -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 2, match.group("body"))
        for match in FENCE.finditer(text)
        if match.group("lang") == language
    ]


def section(title: str) -> str:
    """The text of the ``#``-heading ``title`` up to the next heading of any level."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^#+ {re.escape(title)}\n(?P<body>.*?)(?=^#)", text, re.M | re.S)
    assert match, f"docs/hitl.md has no section {title!r}"
    return match.group("body")


def test_the_page_has_python_and_shell_blocks() -> None:
    assert len(blocks("python")) >= 6
    assert len(blocks("bash")) >= 2


def test_every_python_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # feedback_data/ and checkpoints/ go here
    namespace: dict[str, object] = {"__name__": "docs_hitl"}
    for line, body in blocks("python"):
        exec(compile(body, f"{DOC}:{line}", "exec"), namespace)  # noqa: S102 - running the page is the point
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "feedback_data"]


def test_every_server_command_line_parses() -> None:
    from graflow.api.main import parse_args

    commands = [line for _, body in blocks("bash") for line in body.splitlines() if "python -m graflow.api" in line]
    assert len(commands) >= 3
    for command in commands:
        words = shlex.split(command)
        start = words.index("-m") + 2
        assert words[start - 1] == "graflow.api"
        parse_args(words[start:])  # exits with status 2 on an unknown flag or a bad value


def test_every_graflow_command_line_parses() -> None:
    from graflow.cli.main import build_parser

    parser = build_parser()
    commands = [line for _, body in blocks("bash") for line in body.splitlines() if line.startswith("graflow ")]
    assert {shlex.split(line)[2] for line in commands} == {"list", "show", "answer", "cancel", "resumer"}
    for command in commands:
        args = parser.parse_args(shlex.split(command, comments=True)[1:])  # exits with status 2 when it is wrong
        assert getattr(args, "handler", None) is not None, command


def test_the_resumer_flag_table_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from graflow.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["hitl", "resumer", "--help"])
    real = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", capsys.readouterr().out))
    store = {"--backend", "--data-dir", "--redis-url", "--key-prefix"}
    documented = set(re.findall(r"^\| `(--[a-z][a-z-]+)`", section("Resuming paused runs automatically"), re.M))
    assert documented == real - store - {"--help"}
    assert store <= set(re.findall(r"`(--[a-z][a-z-]+)", section("From the command line")))


def test_the_flag_table_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from graflow.api.main import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--help"])
    real = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", capsys.readouterr().out)) - {"--help"}
    table = section("The REST API and the web pages").split("### JSON endpoints")[0]
    documented = set(re.findall(r"`(--[a-z][a-z-]+)", table))
    assert documented == real


def test_the_endpoints_the_page_names_are_the_apps_routes(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from graflow.api.app import create_feedback_api

    app = create_feedback_api(feedback_config={"data_dir": str(tmp_path)}, auth_token="")
    routes = [(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item]

    def exists(method: str, path: str) -> bool:
        path = path.split("?")[0]
        for route_method, route_path in routes:
            pattern = re.sub(r"\\\{[a-z_]+\\\}", r"[^/]+", re.escape(route_path))
            if route_method == method and re.fullmatch(pattern, path):
                return True
        return False

    endpoint_table = section("JSON endpoints")
    named = re.findall(r"^\| `(GET|POST|DELETE) ([^`]+)`", endpoint_table, re.M)
    assert len(named) == 6
    for method, path in named:
        assert exists(method, path), f"{method} {path}"

    def shape(path: str) -> str:
        return re.sub(r"\{[a-z_]+\}", "{}", path.split("?")[0])

    api_routes = {(m, shape(p)) for m, p in routes if p.startswith("/api/") or p in ("/", "/health")}
    assert api_routes == {(m, shape(p)) for m, p in named}
    pages = re.findall(r"^\| `(/ui/feedback/[^`]*)`", section("Web pages"), re.M)
    assert len(pages) == 4
    assert all(exists("GET", page) for page in pages)
    curls = [line for _, body in blocks("bash") for line in body.split("curl")[1:]]
    for call in curls:
        method = re.search(r"-X (\w+)", call)
        url = re.search(r"http://127\.0\.0\.1:8000(/\S*)", call)
        assert url, call
        assert exists(method.group(1) if method else "GET", url.group(1)), call


def test_the_extras_the_page_installs_exist() -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = re.findall(r"graflow\[([a-z,]+)\]", DOC.read_text(encoding="utf-8"))
    assert named
    for group in named:
        assert set(group.split(",")) <= extras, group


def test_the_type_and_status_tables_match_the_code() -> None:
    types = re.findall(r"^\| `([A-Z_]+)` \| `\"([a-z_]+)\"` \|", section("The request methods"), re.M)
    assert types == [(member.name, member.value) for member in FeedbackType]
    statuses = re.findall(r"^\| `([a-z]+)` \| ", section("The request methods"), re.M)
    assert set(statuses) == STATUSES and len(statuses) == len(STATUSES)


def test_the_masked_id_shown_is_what_the_list_page_shows() -> None:
    pytest.importorskip("fastapi")
    from graflow.api.endpoints.feedback_ui import mask_id

    shown = re.search(r"ids are masked \(`([^`]+)`\)", DOC.read_text(encoding="utf-8"))
    assert shown and mask_id(shown.group(1)[0] + "x" * 14 + shown.group(1)[-1]) == shown.group(1)
