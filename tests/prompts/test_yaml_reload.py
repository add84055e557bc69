"""YAMLPromptManager caching: files are re-read when they change on disk or when their parsed copy expires."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import graflow.prompts.yaml_manager as yaml_manager_module
from graflow.prompts import PromptNotFoundError, PromptSchemaError, YAMLPromptManager
from tests.prompts.conftest import FakeClock, WriteYaml


def greeting(text: str, version: int = 1) -> str:
    return f"greeting:\n  labels:\n    production:\n      version: {version}\n      content: \"{text}\"\n"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Records every file the manager parses."""
    seen: list[Path] = []
    real = yaml_manager_module.parse_prompt_file

    def spy(path: Path, *args: object, **kwargs: object) -> object:
        seen.append(path)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(yaml_manager_module, "parse_prompt_file", spy)
    return seen


def test_unchanged_file_is_parsed_once(prompts_dir: Path, write_yaml: WriteYaml, parses: list[Path]) -> None:
    write_yaml("g.yaml", greeting("Hello"))
    manager = YAMLPromptManager(prompts_dir)

    for _ in range(5):
        assert manager.get_prompt("greeting").content == "Hello"

    assert len(parses) == 1


def test_a_modified_file_is_reloaded(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    write_yaml("g.yaml", greeting("Hello", version=1))
    manager = YAMLPromptManager(prompts_dir, cache_ttl=0)
    assert manager.get_prompt("greeting").content == "Hello"

    write_yaml("g.yaml", greeting("Bonjour", version=2))

    prompt = manager.get_prompt("greeting")
    assert (prompt.content, prompt.version) == ("Bonjour", 2)
    with pytest.raises(Exception, match="Version 1 not found"):
        manager.get_prompt("greeting", version=1)  # the old version is gone with the old file content


def test_a_file_moved_back_in_time_is_reloaded_too(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    path = write_yaml("g.yaml", greeting("new"))
    manager = YAMLPromptManager(prompts_dir, cache_ttl=0)
    assert manager.get_prompt("greeting").content == "new"

    # e.g. a backup restored: older modification time, other content
    stat = path.stat()
    path.write_text(greeting("restored!"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10_000_000_000))

    assert manager.get_prompt("greeting").content == "restored!"


def test_a_same_size_edit_with_the_same_mtime_shows_after_the_ttl(
    prompts_dir: Path, write_yaml: WriteYaml, clock: FakeClock
) -> None:
    path = write_yaml("g.yaml", greeting("AAAA"))
    manager = YAMLPromptManager(prompts_dir, cache_ttl=60, clock=clock)
    assert manager.get_prompt("greeting").content == "AAAA"
    stat = path.stat()
    path.write_text(greeting("BBBB"))  # same size; put the old times back so nothing on disk looks changed
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    clock.advance(59)
    assert manager.get_prompt("greeting").content == "AAAA"
    clock.advance(1)
    assert manager.get_prompt("greeting").content == "BBBB"


def test_cache_ttl_zero_never_expires_by_age(
    prompts_dir: Path, write_yaml: WriteYaml, clock: FakeClock, parses: list[Path]
) -> None:
    write_yaml("g.yaml", greeting("Hello"))
    manager = YAMLPromptManager(prompts_dir, cache_ttl=0, clock=clock)
    manager.get_prompt("greeting")

    clock.advance(10**9)
    manager.get_prompt("greeting")

    assert len(parses) == 1


def test_cache_ttl_minus_one_reads_on_every_lookup(
    prompts_dir: Path, write_yaml: WriteYaml, parses: list[Path]
) -> None:
    write_yaml("g.yaml", greeting("Hello"))
    manager = YAMLPromptManager(prompts_dir, cache_ttl=-1)

    manager.get_prompt("greeting")
    manager.get_prompt("greeting")

    assert len(parses) == 2


def test_cache_ttl_seconds_overrides_the_default_for_one_lookup(
    prompts_dir: Path, write_yaml: WriteYaml, clock: FakeClock, parses: list[Path]
) -> None:
    write_yaml("g.yaml", greeting("Hello"))
    manager = YAMLPromptManager(prompts_dir, cache_ttl=300, clock=clock)
    manager.get_prompt("greeting")
    clock.advance(10)

    manager.get_prompt("greeting")
    assert len(parses) == 1
    manager.get_prompt("greeting", cache_ttl_seconds=5)
    assert len(parses) == 2
    manager.get_prompt("greeting", cache_ttl_seconds=-1)
    assert len(parses) == 3


def test_a_new_file_is_picked_up(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    write_yaml("a.yaml", greeting("Hello"))
    manager = YAMLPromptManager(prompts_dir)
    with pytest.raises(PromptNotFoundError):
        manager.get_prompt("farewell")

    write_yaml("b.yaml", "farewell:\n  labels:\n    production: {content: Bye}\n")

    assert manager.get_prompt("farewell").content == "Bye"


def test_a_removed_file_takes_its_prompts_with_it(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    path = write_yaml("g.yaml", greeting("Hello"))
    manager = YAMLPromptManager(prompts_dir)
    manager.get_prompt("greeting")

    path.unlink()

    with pytest.raises(PromptNotFoundError):
        manager.get_prompt("greeting")


def test_a_file_broken_by_an_edit_fails_until_it_is_fixed(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    write_yaml("g.yaml", greeting("Hello"))
    manager = YAMLPromptManager(prompts_dir)
    manager.get_prompt("greeting")

    path = write_yaml("g.yaml", "greeting:\n  labels: [unclosed\n")
    with pytest.raises(PromptSchemaError) as caught:
        manager.get_prompt("greeting")
    assert caught.value.issues[0].path == str(path)

    write_yaml("g.yaml", greeting("Fixed"))
    assert manager.get_prompt("greeting").content == "Fixed"


def test_cache_maxsize_drops_least_recently_used_files(
    prompts_dir: Path, write_yaml: WriteYaml, parses: list[Path]
) -> None:
    write_yaml("a/p.yaml", "one:\n  labels:\n    production: {content: '1'}\n")
    write_yaml("b/p.yaml", "two:\n  labels:\n    production: {content: '2'}\n")
    manager = YAMLPromptManager(prompts_dir, cache_maxsize=1)

    assert manager.get_prompt("a/one").content == "1"
    assert manager.get_prompt("a/one").content == "1"
    assert len(parses) == 1
    assert manager.get_prompt("b/two").content == "2"  # evicts a/p.yaml
    assert manager.get_prompt("a/one").content == "1"  # read again

    assert [p.parent.name for p in parses] == ["a", "b", "a"]


def test_clear_cache_forces_a_new_read(prompts_dir: Path, write_yaml: WriteYaml, parses: list[Path]) -> None:
    write_yaml("g.yaml", greeting("Hello"))
    manager = YAMLPromptManager(prompts_dir)
    manager.get_prompt("greeting")

    manager.clear_cache()
    manager.get_prompt("greeting")

    assert len(parses) == 2
