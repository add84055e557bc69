"""Prompts kept as YAML files in a folder (extra ``prompts``).

The folder's layout gives the names: ``greeting`` in ``prompts/messages.yaml`` is ``"greeting"``, ``reply`` in
``prompts/support/replies.yaml`` is ``"support/reply"``. A lookup reads only the folder its name points to, and
re-reads a file when it changed on disk (modification time, size or inode differ) or when its parsed copy is older
than the cache TTL. The format is described in :mod:`graflow.prompts.yaml_schema`.

A folder is served only when all its files are valid: any problem raises
:class:`~graflow.prompts.exceptions.PromptSchemaError`, which names the file and line.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graflow.config import env
from graflow.prompts.base import DEFAULT_LABEL, PromptManager
from graflow.prompts.exceptions import (
    PromptConfigurationError,
    PromptNotFoundError,
    PromptRequestError,
    PromptSchemaError,
    PromptVersionNotFoundError,
    SchemaIssue,
)
from graflow.prompts.models import PromptVersion
from graflow.prompts.yaml_schema import (
    ParsedFile,
    PromptEntry,
    PromptInfo,
    folder_issues,
    is_prompt_folder_name,
    parse_prompt_file,
    prompt_files,
    walk_prompt_folders,
)

#: Folder used when neither ``prompts_dir`` nor ``GRAFLOW_PROMPTS_DIR`` is given (relative to the working directory).
DEFAULT_PROMPTS_DIR = "./prompts"

_generation = itertools.count()


@dataclass
class _CachedFile:
    signature: tuple[int, int, int]
    loaded_at: float
    parsed: ParsedFile
    generation: int = field(default_factory=lambda: next(_generation))


@dataclass
class _FolderView:
    key: tuple[int, ...]
    by_name: dict[str, list[PromptEntry]]
    issues: list[SchemaIssue]


class YAMLPromptManager(PromptManager):
    """Prompts read from YAML files in a folder.

    Args:
        prompts_dir: The folder. ``None`` uses ``GRAFLOW_PROMPTS_DIR``, else ``./prompts``; a relative path is
            resolved against the working directory when the manager is created. The folder may not exist yet.
        cache_ttl: Seconds a parsed file is served before it is read again even if it looks unchanged on disk;
            ``0`` means never (changed files are still re-read), ``-1`` means re-read on every lookup.
        cache_maxsize: Most prompt entries (one per prompt and label) kept parsed in memory; the least recently
            used files are dropped first and read again when needed.
        clock: Monotonic clock in seconds, used for the TTL.

    Raises:
        PromptConfigurationError: ``cache_ttl`` or ``cache_maxsize`` is out of range.

    Lookups are thread-safe. Pickling keeps the folder and the settings, not the cache (nor a custom clock).
    """

    DEFAULT_TTL = 300
    DEFAULT_CACHE_MAXSIZE = 10000

    def __init__(
        self,
        prompts_dir: str | Path | None = None,
        cache_ttl: int = DEFAULT_TTL,
        cache_maxsize: int = DEFAULT_CACHE_MAXSIZE,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if prompts_dir is None:
            prompts_dir = env("GRAFLOW_PROMPTS_DIR") or DEFAULT_PROMPTS_DIR
        self.prompts_dir: Path = Path(prompts_dir).expanduser().resolve()
        if not _is_ttl(cache_ttl):
            raise PromptConfigurationError(f"cache_ttl must be a whole number of seconds >= -1, not {cache_ttl!r}")
        if isinstance(cache_maxsize, bool) or not isinstance(cache_maxsize, int) or cache_maxsize < 1:
            raise PromptConfigurationError(f"cache_maxsize must be a whole number >= 1, not {cache_maxsize!r}")
        self.cache_ttl = cache_ttl
        self.cache_maxsize = cache_maxsize
        self._clock = clock
        self._reset_cache()

    def _reset_cache(self) -> None:
        self._lock = threading.RLock()
        self._files: OrderedDict[Path, _CachedFile] = OrderedDict()
        self._folders: dict[Path, _FolderView] = {}
        self._entry_count = 0

    # -- lookups -----------------------------------------------------------------------------------------------------
    def get_prompt(
        self,
        name: str,
        *,
        version: int | None = None,
        label: str | None = None,
        cache_ttl_seconds: int | None = None,
    ) -> PromptVersion:
        """Look a prompt up in the YAML files.

        Without ``version`` the latest version of the label is returned; without ``label`` too, the label is
        ``"production"``. With only ``version``, the entry with that version is returned, preferring the
        ``"production"`` label when several labels share it. With both, the label's entry must have that version.

        Args:
            name: ``"key"`` for the top folder, ``"sub/folder/key"`` for a sub-folder.
            version: Numeric version.
            label: Label name.
            cache_ttl_seconds: Maximum age of the parsed files for this lookup, overriding ``cache_ttl``.

        Returns:
            A new :class:`~graflow.prompts.models.TextPrompt` or :class:`~graflow.prompts.models.ChatPrompt`.

        Raises:
            PromptNotFoundError: ``Prompt not found: '<name>'``.
            PromptVersionNotFoundError: The prompt has no such label or version; the error lists the labels.
            PromptSchemaError: A file in the prompt's folder is malformed (the error gives path and line).
            PromptRequestError: The name is empty, or ``version`` or ``cache_ttl_seconds`` is not a valid number.
        """
        folder = _folder_of(name)
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise PromptRequestError(f"version must be a whole number, not {version!r}", prompt_name=name)
        if cache_ttl_seconds is not None and not _is_ttl(cache_ttl_seconds):
            raise PromptRequestError(f"cache_ttl_seconds must be a whole number >= -1, not {cache_ttl_seconds!r}",
                                     prompt_name=name)
        ttl = self.cache_ttl if cache_ttl_seconds is None else cache_ttl_seconds
        entries = [] if folder is None else self._folder(folder, ttl).by_name.get(name, [])
        if not entries:
            raise PromptNotFoundError(prompt_name=name)
        return _select(name, entries, version, label).to_prompt()

    def list_prompts(self) -> list[PromptInfo]:
        """Every (prompt, label) entry under the folder, sub-folders included, sorted by name, label and version.

        Raises:
            PromptSchemaError: A file is malformed.
        """
        rows: list[PromptInfo] = []
        for parts in walk_prompt_folders(self.prompts_dir):
            view = self._folder(parts, self.cache_ttl)
            rows.extend(entry.info for entries in view.by_name.values() for entry in entries)
        return sorted(rows, key=lambda row: (row.name, row.label, row.version))

    def clear_cache(self) -> None:
        """Forget every parsed file: the next lookups read the files again."""
        with self._lock:
            self._files.clear()
            self._folders.clear()
            self._entry_count = 0

    # -- cache -------------------------------------------------------------------------------------------------------
    def _folder(self, parts: tuple[str, ...], ttl: int) -> _FolderView:
        directory = self.prompts_dir.joinpath(*parts)
        with self._lock:
            paths = prompt_files(directory)
            present = set(paths)
            for gone in [p for p in self._files if p.parent == directory and p not in present]:
                self._drop(gone)
            now = self._clock()
            current: list[_CachedFile] = []
            for path in paths:
                cached = self._fresh_file(path, parts, ttl, now)
                if cached is not None:
                    current.append(cached)
            self._evict(keep=present)
            key = tuple(cached.generation for cached in current)
            view = self._folders.get(directory)
            if view is None or view.key != key:
                view = _build_view(key, [cached.parsed for cached in current])
                if key:  # an empty or missing folder is cheap to list again; do not keep a view per asked-for name
                    self._folders[directory] = view
        if view.issues:
            raise PromptSchemaError(issues=view.issues)
        return view

    def _fresh_file(self, path: Path, parts: tuple[str, ...], ttl: int, now: float) -> _CachedFile | None:
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed since the folder was listed
            if path in self._files:
                self._drop(path)
            return None
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = self._files.get(path)
        if cached is not None and cached.signature == signature and not _expired(cached.loaded_at, now, ttl):
            self._files.move_to_end(path)
            return cached
        # stat before reading: a change made while reading shows up as a new signature on the next lookup
        fresh = _CachedFile(signature, now, parse_prompt_file(path, parts))
        if cached is not None:
            self._drop(path)
        self._files[path] = fresh
        self._entry_count += len(fresh.parsed.entries)
        return fresh

    def _drop(self, path: Path) -> None:
        cached = self._files.pop(path)
        self._entry_count -= len(cached.parsed.entries)
        self._folders.pop(path.parent, None)

    def _evict(self, keep: set[Path]) -> None:
        for path in list(self._files):
            if self._entry_count <= self.cache_maxsize:
                return
            if path not in keep:
                self._drop(path)

    # -- pickling ----------------------------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"prompts_dir": self.prompts_dir, "cache_ttl": self.cache_ttl, "cache_maxsize": self.cache_maxsize}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._clock = time.monotonic
        self._reset_cache()

    def __repr__(self) -> str:
        return f"YAMLPromptManager(prompts_dir={str(self.prompts_dir)!r})"


def _is_ttl(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= -1


def _expired(loaded_at: float, now: float, ttl: int) -> bool:
    if ttl == 0:
        return False
    return ttl < 0 or now - loaded_at >= ttl


def _folder_of(name: str) -> tuple[str, ...] | None:
    """The folder parts of ``name``, or None when no file can define such a name."""
    if not isinstance(name, str) or not name.strip():
        raise PromptRequestError(f"prompt name must be a non-empty string, not {name!r}")
    *folder, key = name.split("/")
    if not key or "\\" in name or not all(is_prompt_folder_name(part) for part in folder):
        return None  # also keeps "../x" from reading outside the prompts folder
    return tuple(folder)


def _build_view(key: tuple[int, ...], files: list[ParsedFile]) -> _FolderView:
    by_name: dict[str, list[PromptEntry]] = {}
    for parsed in files:
        for entry in parsed.entries:
            by_name.setdefault(entry.info.name, []).append(entry)
    issues = [issue for parsed in files for issue in parsed.issues] + folder_issues(files)
    return _FolderView(key, by_name, issues)


def _select(name: str, entries: list[PromptEntry], version: int | None, label: str | None) -> PromptEntry:
    if label is None and version is not None:
        matches = [e for e in entries if e.info.version == version]
        if matches:
            return next((e for e in matches if e.info.label == DEFAULT_LABEL), matches[0])
    else:
        wanted = DEFAULT_LABEL if label is None else label
        matches = [e for e in entries if e.info.label == wanted and version in (None, e.info.version)]
        if matches:
            return max(matches, key=lambda e: e.info.version)
        label = wanted
    raise PromptVersionNotFoundError(
        prompt_name=name,
        label=label,
        version=version,
        available_labels=list(dict.fromkeys(e.info.label for e in entries)),
        available_versions=sorted({e.info.version for e in entries}),
    )


__all__ = ["DEFAULT_PROMPTS_DIR", "YAMLPromptManager"]
