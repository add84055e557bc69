"""Static checks run as part of the test suite, so `make test` (and CI) cannot pass while one of them fails.

Each check shells out to the tool with this interpreter, from the repository root, using the configuration in
``pyproject.toml``. A missing tool skips the check on a developer machine and fails it under ``CI=true``.
Run only these with ``pytest -m static``; leave them out with ``-m "not static"``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import service_unavailable

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Generous per-check limit: a cold mypy run over the strict areas is the slowest, well under a minute here.
STATIC_CHECK_TIMEOUT = 600


def run_tool(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <module> <args>`` from the repository root, or skip/fail when the tool is not installed."""
    if importlib.util.find_spec(module) is None:
        service_unavailable(f"'{module}' is not installed (pip install -e '.[dev]')")
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=STATIC_CHECK_TIMEOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )


def assert_clean(result: subprocess.CompletedProcess[str], what: str) -> None:
    assert result.returncode == 0, f"{what} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"


@pytest.mark.static
@pytest.mark.timeout(STATIC_CHECK_TIMEOUT)
def test_ruff_finds_no_problems_in_the_repository() -> None:
    assert_clean(run_tool("ruff", "check", "--no-cache", "."), "ruff check .")


@pytest.mark.static
@pytest.mark.timeout(STATIC_CHECK_TIMEOUT)
def test_mypy_strict_areas_type_check() -> None:
    # Targets and per-area strictness come from [tool.mypy] in pyproject.toml.
    assert_clean(run_tool("mypy"), "mypy (strict areas)")


@pytest.mark.static
@pytest.mark.timeout(STATIC_CHECK_TIMEOUT)
def test_import_contracts_hold() -> None:
    # `python -m importlinter` has no __main__; call the same entry point the `lint-imports` script calls.
    if importlib.util.find_spec("importlinter") is None:
        service_unavailable("'import-linter' is not installed (pip install -e '.[dev]')")
    entry_point = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    result = subprocess.run(
        [sys.executable, "-c", entry_point],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=STATIC_CHECK_TIMEOUT,
        env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO_ROOT)},
    )
    assert_clean(result, "lint-imports")


# ----------------------------------------------------------------------------------------------------------------
# Module size


def load_size_check() -> ModuleType:
    path = REPO_ROOT / "tools" / "check_module_size.py"
    spec = importlib.util.spec_from_file_location("check_module_size", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.static
def test_no_graflow_module_exceeds_the_size_ceiling() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "check_module_size.py")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_clean(result, "tools/check_module_size.py")


def write_module(path: Path, lines: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"x{i} = {i}\n" for i in range(lines)))


def test_size_check_flags_a_module_over_the_ceiling(tmp_path: Path) -> None:
    # given a package with one module at the ceiling and one just past it
    check = load_size_check()
    write_module(tmp_path / "pkg" / "fits.py", check.MAX_LINES)
    write_module(tmp_path / "pkg" / "sub" / "long.py", check.MAX_LINES + 1)
    # when the check runs with an empty allow-list
    problems = check.find_problems(tmp_path / "pkg", root=tmp_path, allow_list={})
    # then only the long module is reported, by path and size
    assert len(problems) == 1
    assert problems[0].startswith(f"pkg/sub/long.py: {check.MAX_LINES + 1} lines")


def test_size_check_accepts_an_allow_listed_module_with_a_reason(tmp_path: Path) -> None:
    check = load_size_check()
    write_module(tmp_path / "pkg" / "long.py", check.MAX_LINES + 50)
    problems = check.find_problems(
        tmp_path / "pkg", root=tmp_path, allow_list={"pkg/long.py": "generated protocol table"}
    )
    assert problems == []


def test_size_check_reports_stale_and_unexplained_allow_list_entries(tmp_path: Path) -> None:
    # given allow-list entries for a short module, a missing module, and one without a reason
    check = load_size_check()
    write_module(tmp_path / "pkg" / "short.py", 10)
    write_module(tmp_path / "pkg" / "long.py", check.MAX_LINES + 1)
    allow = {"pkg/short.py": "was long once", "pkg/gone.py": "removed since", "pkg/long.py": "  "}
    # when the check runs
    problems = check.find_problems(tmp_path / "pkg", root=tmp_path, allow_list=allow)
    # then each entry is reported for what is wrong with it
    text = "\n".join(problems)
    assert "pkg/short.py: listed in ALLOW_LIST but has 10 lines" in text
    assert "pkg/gone.py: listed in ALLOW_LIST but no such module exists" in text
    assert "pkg/long.py: allow-list entry has no reason" in text
    assert len(problems) == 3


def test_size_check_exits_non_zero_on_a_long_module(tmp_path: Path) -> None:
    check = load_size_check()
    write_module(tmp_path / "pkg" / "long.py", check.MAX_LINES + 1)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "check_module_size.py"), str(tmp_path / "pkg")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "long.py: 601 lines" in result.stderr


# ----------------------------------------------------------------------------------------------------------------
# Packaging


def load_pyproject() -> dict[str, Any]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_console_script_points_at_an_existing_main_function() -> None:
    # given the `graflow` console script declared in pyproject.toml
    target = load_pyproject()["project"]["scripts"]["graflow"]
    module_name, _, attribute = target.partition(":")
    # then the module it names is importable and has a callable of that name
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute))


def test_package_ships_its_type_marker() -> None:
    assert (REPO_ROOT / "graflow" / "py.typed").is_file()


def test_core_dependencies_stay_minimal() -> None:
    # The core install must run local workflows with nothing but these (ARCHITECTURE.md, optional extras).
    dependencies = load_pyproject()["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower() for dep in dependencies}
    assert names == {"networkx", "cloudpickle", "typing-extensions"}


#: Feature extras deliberately left out of ``all``, with the reason (README's extras table says the same).
NOT_IN_ALL = {"adk": "google-adk pulls in a large tree of Google client libraries; install it when you use ADK"}


def test_all_extra_covers_every_feature_extra_and_dev_includes_all() -> None:
    extras = load_pyproject()["project"]["optional-dependencies"]
    feature_extras = set(extras) - {"all", "dev"} - set(NOT_IN_ALL)
    all_extra = next(dep for dep in extras["all"] if dep.startswith("graflow["))
    assert set(all_extra.removeprefix("graflow[").removesuffix("]").split(",")) == feature_extras
    assert "graflow[all]" in extras["dev"]


def readme_section(title: str) -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"## {title}" in readme, f"README.md has no section '{title}'"
    return readme.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_readme_names_exactly_the_two_setup_commands() -> None:
    # The "Set-up on a fresh machine" section must stay the two commands .ci/run relies on.
    section = readme_section("Set-up on a fresh machine")
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "the set-up section has no bash block"
    assert blocks[0].split() == ["make", "demo", "make", "test"]
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_readme_first_workflow_prints_the_output_it_shows() -> None:
    # given the first python block of the README's "A first workflow" section and the output block after it
    section = readme_section("A first workflow")
    code = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]
    shown = re.findall(r"```text\n(.*?)```", section, flags=re.DOTALL)[0]
    # when it runs in a fresh interpreter
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    # then it succeeds and prints exactly what the README promises
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown
