"""The `graflow` console command assembles its subcommands and reports missing extras clearly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from graflow.cli import main as cli


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("worker", "resume", "checkpoints", "hitl"):
        assert command in out


def test_an_older_command_keeps_its_own_flags_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["worker", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: graflow worker" in out and "--redis-url" in out and "--concurrency" in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    captured = capsys.readouterr()
    assert "Usage: graflow" in captured.out + captured.err


def test_version_flag() -> None:
    proc = subprocess.run([sys.executable, "-m", "graflow.cli.main", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("graflow ")


def test_subcommand_whose_extra_is_missing_says_which_package(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    real_import = cli.importlib.import_module

    def fake_import(name: str) -> object:
        if name == "graflow.cli.worker":
            raise ModuleNotFoundError("No module named 'redis'", name="redis")
        return real_import(name)

    monkeypatch.setattr(cli.importlib, "import_module", fake_import)
    assert cli.main(["worker"]) == 2
    assert "needs the optional package 'redis'" in capsys.readouterr().err
