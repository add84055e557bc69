"""The README's first workflow runs with ``graflow run`` as the README shows."""

from __future__ import annotations

import re
import shlex

from tests.cli.conftest import REPO_ROOT, Cli


def test_the_first_workflow_runs_with_graflow_run_as_shown(cli: Cli) -> None:
    # given the README's first workflow saved as word_stats.py
    section = (REPO_ROOT / "README.md").read_text().split("## A first workflow", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]
    command = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)[0].strip()
    shown = re.findall(r"```text\n(.*?)```", section, flags=re.DOTALL)[1]
    (cli.workdir / "word_stats.py").write_text(code)
    # when the README's command runs
    args = shlex.split(command)
    assert args[:2] == ["graflow", "run"]
    result = cli(*args[1:])
    # then it prints what the README promises, and the workflow ran once
    assert (result.returncode, result.stdout, result.stderr) == (0, shown, "")
    listed = cli("runs", "--json").stdout.splitlines()
    assert len(listed) == 1
