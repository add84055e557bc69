"""docs/cli.md shows each command's current --help, and every command has examples and exit codes in it."""

from __future__ import annotations

import pytest

from tests.cli.conftest import REPO_ROOT, Cli


@pytest.mark.parametrize("command", ["run", "retry", "runs", "runs prune", "show", "cancel"])
def test_the_guide_shows_the_commands_help_as_it_is(cli: Cli, command: str) -> None:
    result = cli(*command.split(), "--help", env={"COLUMNS": "120"})
    assert result.returncode == 0
    help_text = result.stdout.rstrip("\n")
    assert "Examples:" in help_text and "Exit codes" in help_text
    guide = (REPO_ROOT / "docs" / "cli.md").read_text()
    assert f"```text\n{help_text}\n```" in guide, f"docs/cli.md does not show `graflow {command} --help` as it is"
