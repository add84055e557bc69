"""Dependencies flow one way: the engine and the public API load nothing beyond the core dependencies.

Each check runs in a fresh interpreter, so modules imported by other tests in this process cannot hide a leak, and
compares ``sys.modules`` before and after the statement under test. The development install has every extra, so an
import of an optional package would succeed silently here and fail for a user of the core install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Service and vendor packages that graflow.core must never load (mirrors the import-linter contract).
FORBIDDEN_IN_CORE = frozenset(
    {
        "redis",
        "fastapi",
        "starlette",
        "uvicorn",
        "docker",
        "litellm",
        "langfuse",
        "opentelemetry",
        "prometheus_client",
        "matplotlib",
    }
)

#: Top-level packages outside the standard library that the core install provides (pyproject `dependencies`).
CORE_PACKAGES = frozenset({"graflow", "networkx", "cloudpickle", "typing_extensions"})

requires_engine = pytest.mark.skipif(
    not (REPO_ROOT / "graflow" / "core" / "engine.py").exists(),
    reason="graflow/core/engine.py does not exist yet",
)
requires_public_api = pytest.mark.skipif(
    not (REPO_ROOT / "graflow" / "__init__.py").exists(),
    reason="graflow/__init__.py does not exist yet",
)


def third_party_packages_loaded_by(code: str) -> set[str]:
    """Top-level non-stdlib packages that running ``code`` adds to ``sys.modules`` in a fresh interpreter."""
    script = textwrap.dedent(
        """
        import json, sys
        before = set(sys.modules)
        exec(compile({code!r}, "<statement under test>", "exec"))
        loaded = {{name.split(".")[0] for name in set(sys.modules) - before}}
        print(json.dumps(sorted(loaded - set(sys.stdlib_module_names))))
        """
    ).format(code=textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"the statement failed in a fresh interpreter:\n{result.stderr}"
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@requires_engine
def test_core_engine_loads_no_service_or_vendor_package() -> None:
    loaded = third_party_packages_loaded_by("import graflow.core.engine")
    assert not loaded & FORBIDDEN_IN_CORE, f"graflow.core.engine loaded {sorted(loaded & FORBIDDEN_IN_CORE)}"


@requires_engine
def test_core_engine_loads_only_core_dependencies() -> None:
    loaded = third_party_packages_loaded_by("import graflow.core.engine")
    outside = loaded - CORE_PACKAGES
    assert not outside, f"graflow.core.engine loaded packages outside the core install: {sorted(outside)}"


@requires_public_api
def test_import_graflow_loads_only_core_dependencies() -> None:
    loaded = third_party_packages_loaded_by("import graflow")
    outside = loaded - CORE_PACKAGES
    assert not outside, f"`import graflow` loaded packages outside the core install: {sorted(outside)}"


@requires_public_api
@requires_engine
def test_a_local_workflow_run_loads_only_core_dependencies() -> None:
    # given a small local workflow with a sequence and a parallel group, run with the default (memory) backends
    code = """
        from graflow import task, workflow

        with workflow("architecture_probe") as wf:
            @task
            def start():
                return 1

            @task
            def left(start):
                return start + 1

            @task
            def right(start):
                return start + 2

            @task(inject_context=True)
            def join(tctx):
                return tctx.get_result("left") + tctx.get_result("right")

            start >> (left | right) >> join
            assert wf.execute("start") == 5
    """
    # when it runs, then nothing outside the core install was needed
    loaded = third_party_packages_loaded_by(code)
    outside = loaded - CORE_PACKAGES
    assert not outside, f"a local run loaded packages outside the core install: {sorted(outside)}"
