"""Reading and checking YAML prompt files, with the path and line of every problem.

A prompt file maps prompt names to definitions::

    greeting:                     # the name; in folder "support/" it is "support/greeting"
      type: text                  # "text" (default) or "chat"
      labels:
        production:               # label -> one version of the prompt
          version: 2              # optional, default 1
          content: "Hello {{ name }}!"
          created_at: "2024-05-01"   # optional
          metadata: {owner: docs}    # optional
        staging:
          version: 3
          content: "Hi {{ name }}!"

A chat prompt's ``content`` is a list of ``{role, content}`` messages. Keys other than the ones above are ignored.
Problems (bad YAML, wrong types, duplicate keys, the same label and version defined twice in one folder) are
reported as :class:`~graflow.prompts.exceptions.SchemaIssue` values: path, 1-based line and message.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import yaml
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("YAML prompt files need PyYAML: pip install 'graflow[prompts]'") from exc

from graflow.prompts.exceptions import PromptCompilationError, SchemaIssue
from graflow.prompts.models import ChatPrompt, PromptVersion, TextPrompt

#: File suffixes read as prompt files.
PROMPT_SUFFIXES = (".yaml", ".yml")
PROMPT_TYPES = ("text", "chat")


@dataclass(frozen=True)
class PromptInfo:
    """One (prompt, label) entry of a prompt folder, without its content: a row of a listing."""

    name: str
    type: str
    label: str
    version: int
    created_at: str | None
    path: str
    line: int


@dataclass(frozen=True)
class PromptEntry:
    """One (prompt, label) entry read from a file: its description and its content."""

    info: PromptInfo
    content: Any
    metadata: dict[str, Any]

    def to_prompt(self) -> PromptVersion:
        """A new :class:`TextPrompt` or :class:`ChatPrompt` (its content and metadata are copies)."""
        info = self.info
        cls = ChatPrompt if info.type == "chat" else TextPrompt
        return cls(info.name, copy.deepcopy(self.content), version=info.version, label=info.label,
                   created_at=info.created_at, metadata=copy.deepcopy(self.metadata))


@dataclass
class ParsedFile:
    """What one file holds: its entries in file order, and its problems."""

    path: Path
    entries: list[PromptEntry] = field(default_factory=list)
    issues: list[SchemaIssue] = field(default_factory=list)


# -- YAML with line numbers ------------------------------------------------------------------------------------------
class _Mapping(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers its own line and the line of each key."""

    line = 0
    key_lines: dict[Any, int]


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader whose mappings are :class:`_Mapping` and whose duplicate keys are errors."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[_Mapping]:
    mapping = _Mapping()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    yield mapping
    first_seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys brought in by "<<:" may be overridden; only written-out keys must be unique
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, "found an unhashable key", mark) from None
        if key in first_seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"found duplicate key {key!r} (first on line {first_seen[key]})", key_node.start_mark
            )
        first_seen[key] = key_node.start_mark.line + 1
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _plain(value: Any) -> Any:
    """``value`` with every :class:`_Mapping` turned into a plain dict (deeply)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# -- parsing ---------------------------------------------------------------------------------------------------------
def parse_prompt_file(path: Path, folder: tuple[str, ...] = (), *, check_templates: bool = False) -> ParsedFile:
    """Read one prompt file.

    Args:
        path: The file.
        folder: Its folder relative to the prompts root (``("support",)``): the prefix of its prompt names.
        check_templates: Also report template syntax errors (needs Jinja2).

    Returns:
        The entries it defines and the problems found; a file with problems may still yield the entries that are
        valid, but callers that serve prompts treat any problem as fatal.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return ParsedFile(path, issues=[SchemaIssue(str(path), None, f"cannot read the file: {exc.strerror}")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return ParsedFile(path, issues=[SchemaIssue(str(path), line, "the file is not valid UTF-8")])
    return parse_prompt_text(text, path=path, folder=folder, check_templates=check_templates)


def parse_prompt_text(
    text: str, *, path: Path, folder: tuple[str, ...] = (), check_templates: bool = False
) -> ParsedFile:
    """Like :func:`parse_prompt_file`, for text already read from ``path``."""
    parsed = ParsedFile(path)
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        parsed.issues.append(SchemaIssue(str(path), mark.line + 1 if mark else None, f"invalid YAML: {detail}"))
        return parsed
    except yaml.YAMLError as exc:
        parsed.issues.append(SchemaIssue(str(path), None, f"invalid YAML: {exc}"))
        return parsed
    if data is None:
        return parsed
    if not isinstance(data, _Mapping):
        parsed.issues.append(SchemaIssue(str(path), _first_content_line(text),
                                         "the top level must map prompt names to prompt definitions"))
        return parsed
    reader = _EntryReader(parsed, folder, check_templates)
    for key, value in data.items():
        reader.read_prompt(key, value, data.key_lines[key])
    return parsed


def _first_content_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "---", "%")):
            return number
    return 1


class _EntryReader:
    """Checks one file's definitions and turns the valid ones into :class:`PromptEntry` values."""

    def __init__(self, parsed: ParsedFile, folder: tuple[str, ...], check_templates: bool) -> None:
        self.parsed = parsed
        self.folder = folder
        self.check_templates = check_templates

    def issue(self, line: int | None, message: str) -> None:
        self.parsed.issues.append(SchemaIssue(str(self.parsed.path), line, message))

    def read_prompt(self, key: Any, value: Any, line: int) -> None:
        if not isinstance(key, str) or not key.strip():
            self.issue(line, f"prompt names must be non-empty strings, not {key!r}")
            return
        if "/" in key or "\\" in key:
            self.issue(line, f"prompt name {key!r} must not contain a slash: put the file in a subfolder instead")
            return
        name = "/".join((*self.folder, key))
        if not isinstance(value, _Mapping):
            self.issue(line, f"prompt '{name}' must be a mapping with 'type' and 'labels'")
            return
        prompt_type = value.get("type", "text")
        if prompt_type not in PROMPT_TYPES:
            self.issue(value.key_lines.get("type", line), f"prompt '{name}': type must be 'text' or 'chat', "
                                                          f"not {prompt_type!r}")
            return
        labels = value.get("labels")
        if "labels" not in value:
            self.issue(line, f"prompt '{name}' has no 'labels' (label name -> content and version)")
            return
        if not isinstance(labels, _Mapping) or not labels:
            self.issue(value.key_lines["labels"], f"prompt '{name}': 'labels' must map label names to a content "
                                                  "and an optional version")
            return
        for label, spec in labels.items():
            self.read_label(name, prompt_type, label, spec, labels.key_lines[label])

    def read_label(self, name: str, prompt_type: str, label: Any, spec: Any, line: int) -> None:
        if not isinstance(label, str) or not label.strip():
            self.issue(line, f"prompt '{name}': label names must be non-empty strings, not {label!r}")
            return
        where = f"prompt '{name}', label '{label}'"
        if not isinstance(spec, _Mapping):
            self.issue(line, f"{where}: expected a mapping with 'content' (and optionally 'version')")
            return
        ok = True
        version = spec.get("version", 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            self.issue(spec.key_lines.get("version", line), f"{where}: version must be a whole number >= 1, "
                                                            f"not {version!r}")
            ok = False
        created_at = spec.get("created_at")
        if isinstance(created_at, dt.date):  # YAML reads unquoted dates and timestamps as date/datetime
            created_at = created_at.isoformat()
        elif created_at is not None and not isinstance(created_at, str):
            self.issue(spec.key_lines["created_at"], f"{where}: created_at must be a date or a string")
            ok = False
        metadata = spec.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            self.issue(spec.key_lines["metadata"], f"{where}: metadata must be a mapping")
            ok = False
        if "content" not in spec:
            self.issue(line, f"{where}: missing 'content'")
            return
        content_line = spec.key_lines["content"]
        content = spec["content"]
        valid = self.check_text(where, content, content_line) if prompt_type == "text" else \
            self.check_chat(where, content, content_line)
        if ok and valid:
            info = PromptInfo(name, prompt_type, label, version, created_at, str(self.parsed.path), line)
            self.parsed.entries.append(PromptEntry(info, _plain(content), _plain(metadata or {})))

    def check_text(self, where: str, content: Any, line: int) -> bool:
        if not isinstance(content, str):
            self.issue(line, f"{where}: a text prompt's content must be a string")
            return False
        return self.check_template(where, content, line)

    def check_chat(self, where: str, content: Any, line: int) -> bool:
        if not isinstance(content, list) or not content:
            self.issue(line, f"{where}: a chat prompt's content must be a list of {{role, content}} messages")
            return False
        valid = True
        for number, message in enumerate(content, start=1):
            if isinstance(message, _Mapping) and message.get("type") == "placeholder":
                if not isinstance(message.get("name"), str) or not message["name"]:
                    self.issue(message.line, f"{where}: placeholder message {number} needs a 'name'")
                    valid = False
                continue
            if not isinstance(message, _Mapping) or not isinstance(message.get("role"), str) or not message["role"]:
                at = message.line if isinstance(message, _Mapping) else line
                self.issue(at, f"{where}: message {number} must be a mapping with a string 'role'")
                valid = False
            elif isinstance(message.get("content"), str):
                valid = self.check_template(f"{where}, message {number}", message["content"], message.line) and valid
        return valid

    def check_template(self, where: str, source: str, line: int) -> bool:
        if not self.check_templates:
            return True
        from graflow.prompts.templating import template_variables

        try:
            template_variables(source)
        except PromptCompilationError as exc:
            self.issue(line, f"{where}: {exc.detail}")
            return False
        return True


# -- folders ---------------------------------------------------------------------------------------------------------
def prompt_files(directory: Path) -> list[Path]:
    """The prompt files directly inside ``directory``, sorted by name (none when it does not exist)."""
    try:
        children = list(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(p for p in children if p.suffix in PROMPT_SUFFIXES and not p.name.startswith(".") and p.is_file())


def is_prompt_folder_name(name: str) -> bool:
    """Whether a folder called ``name`` can hold prompts (hidden folders and ``__pycache__``-like ones cannot)."""
    return bool(name) and not name.startswith((".", "__"))


def walk_prompt_folders(root: Path) -> Iterator[tuple[str, ...]]:
    """Every folder under ``root`` (``root`` itself first, as ``()``), sorted, skipping hidden folders."""
    yield ()
    stack: list[tuple[str, ...]] = [()]
    found: list[tuple[str, ...]] = []
    while stack:
        parts = stack.pop()
        try:
            children = sorted(p for p in root.joinpath(*parts).iterdir() if p.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            continue
        for child in children:
            if not is_prompt_folder_name(child.name):
                continue
            found.append((*parts, child.name))
            stack.append((*parts, child.name))
    yield from sorted(found)


def folder_issues(files: list[ParsedFile]) -> list[SchemaIssue]:
    """Problems between the files of one folder: a prompt with two types, or a label and version defined twice."""
    issues: list[SchemaIssue] = []
    first_type: dict[str, PromptInfo] = {}
    first_entry: dict[tuple[str, str, int], PromptInfo] = {}
    for parsed in files:
        for entry in parsed.entries:
            info = entry.info
            earlier = first_type.setdefault(info.name, info)
            if earlier.type != info.type:
                issues.append(SchemaIssue(info.path, info.line, f"prompt '{info.name}' is a {info.type} prompt "
                                          f"here but a {earlier.type} prompt in {earlier.path}:{earlier.line}"))
                continue
            twin = first_entry.setdefault((info.name, info.label, info.version), info)
            if twin is not info:
                issues.append(SchemaIssue(info.path, info.line, f"prompt '{info.name}', label '{info.label}', "
                                          f"version {info.version} is also defined in {twin.path}:{twin.line}"))
    return issues


def check_prompt_folder(root: Path) -> list[SchemaIssue]:
    """Every problem in the prompt files under ``root``, sub-folders included; template syntax is checked too."""
    if not root.is_dir():
        problem = "is not a folder" if root.exists() else "does not exist"
        return [SchemaIssue(str(root), None, f"the prompts folder {problem}")]
    issues: list[SchemaIssue] = []
    for parts in walk_prompt_folders(root):
        files = [parse_prompt_file(path, parts, check_templates=True) for path in prompt_files(root.joinpath(*parts))]
        for parsed in files:
            issues.extend(parsed.issues)
        issues.extend(folder_issues(files))
    return issues


__all__ = [
    "PROMPT_SUFFIXES",
    "PromptEntry",
    "PromptInfo",
    "ParsedFile",
    "check_prompt_folder",
    "folder_issues",
    "is_prompt_folder_name",
    "parse_prompt_file",
    "parse_prompt_text",
    "prompt_files",
    "walk_prompt_folders",
]
