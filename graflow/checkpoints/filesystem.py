"""The default checkpoint store: files on the local filesystem, written atomically.

Protocol of :meth:`FileSystemCheckpointStore.write`:

1. every blob is written to a temporary file in the target directory (``.<name>.graflow-tmp-<pid>-<hex>``), flushed
   and fsynced; a failure here removes the temporaries and leaves the previous set of the same base untouched;
2. an existing ``.meta.json`` of the same base is removed first, so the old set is no longer committed;
3. the temporaries are renamed over their final names in the order ``.pkl``, ``.channel.pkl``, ``.state.json`` and
   ``.meta.json`` last (the commit marker), and the directory is fsynced.

A process killed during step 1 leaves temporaries that the next write or listing in that directory removes once
their writer is gone. A process killed during step 3 leaves a set without ``.meta.json``: it is not listed and
resume refuses it as missing its commit marker. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
import zlib
from collections.abc import Iterable, Mapping

from graflow import defaults
from graflow.core.checkpoint_format import CHANNEL, KNOWN_SUFFIXES, META, REQUIRED, WRITE_ORDER, strip_suffix
from graflow.core.checkpoint_store import CheckpointError, CheckpointStore

#: Marker in the name of a temporary file; such files are never listed or read.
TEMP_MARKER = ".graflow-tmp-"
#: A temporary file older than this is removed even when its writer's pid is alive (the pid may have been reused).
STALE_TEMP_SECONDS = defaults.CHECKPOINT_STALE_TEMP_SECONDS


#: Writers of the same base in one process take the same lock, so their renames never interleave.
_LOCKS = tuple(threading.Lock() for _ in range(64))


def _lock_for(base: str) -> threading.Lock:
    return _LOCKS[zlib.crc32(os.path.abspath(base).encode()) % len(_LOCKS)]


def _fsync_dir(directory: str) -> None:
    # The rename is durable only once the directory entry is; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def write_file_atomic(path: str, data: bytes) -> None:
    """Write one file atomically: temp name in the same directory, flush, fsync, rename, fsync the directory."""
    directory = os.path.dirname(path) or "."
    tmp = _temp_path(path)
    try:
        _write_temp(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _temp_path(final: str) -> str:
    directory, name = os.path.split(final)
    return os.path.join(directory, f".{name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")


def _write_temp(tmp: str, data: bytes) -> None:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


class FileSystemCheckpointStore(CheckpointStore):
    """Checkpoint sets as files; a base is a path (relative paths resolve against the working directory)."""

    scheme = "file"

    @classmethod
    def from_location(cls, location: str) -> tuple[FileSystemCheckpointStore, str]:
        """Accept a plain path or a ``file://`` URL; a trailing checkpoint suffix is stripped."""
        path = location[len("file://") :] if location.startswith("file://") else location
        if not path:
            raise CheckpointError("location", "empty checkpoint path", location=location)
        return cls(), strip_suffix(os.fspath(path))

    def write(self, base: str, files: Mapping[str, bytes]) -> None:
        """See :meth:`CheckpointStore.write`; the module docstring gives the protocol."""
        if META not in files:
            raise ValueError("a checkpoint set needs a .meta.json entry (its commit marker)")
        order = [s for s in WRITE_ORDER if s in files and s != META]
        order += [*sorted(s for s in files if s not in WRITE_ORDER), META]
        directory = os.path.dirname(base) or "."
        with _lock_for(base):
            self._write_locked(base, files, order, directory)

    def _write_locked(self, base: str, files: Mapping[str, bytes], order: list[str], directory: str) -> None:
        temps: list[tuple[str, str]] = []
        try:
            os.makedirs(directory, exist_ok=True)
            self.sweep(directory)
            for suffix in order:
                final = base + suffix
                tmp = _temp_path(final)
                temps.append((tmp, final))
                _write_temp(tmp, files[suffix])
            # Un-commit the set being replaced before any of its files change.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base + META)
                _fsync_dir(directory)
            for stale in KNOWN_SUFFIXES:
                if stale not in files:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(base + stale)
            while temps:
                tmp, final = temps[0]
                os.replace(tmp, final)
                temps.pop(0)
            _fsync_dir(directory)
        except OSError as exc:
            raise CheckpointError("write", f"{exc.strerror or exc} ({exc.filename or base})", location=base,
                                  cause=exc) from exc
        finally:
            for tmp, _ in temps:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def read(self, base: str, suffixes: Iterable[str] | None = None) -> dict[str, bytes]:
        """The files of ``base`` that exist (all known suffixes unless ``suffixes`` is given)."""
        found: dict[str, bytes] = {}
        for suffix in suffixes if suffixes is not None else (*REQUIRED, CHANNEL):
            try:
                with open(base + suffix, "rb") as handle:
                    found[suffix] = handle.read()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
        return found

    def list(self, prefix: str = "") -> list[str]:
        """Committed bases anywhere below the directory ``prefix`` (the working directory when empty)."""
        root = prefix or "."
        if not os.path.isdir(root):
            return []
        bases: list[str] = []
        for dirpath, _dirnames, filenames in os.walk(root):
            self.sweep(dirpath)
            for name in filenames:
                if name.endswith(META) and TEMP_MARKER not in name and len(name) > len(META):
                    path = os.path.join(dirpath, name[: -len(META)])
                    bases.append(os.path.relpath(path) if not prefix else path)
        return sorted(bases)

    def delete(self, base: str) -> bool:
        """Remove the set; the commit marker goes first so a half-deleted set is never listed."""
        existed = False
        with _lock_for(base):
            existed = self._delete_locked(base)
        if existed:
            _fsync_dir(os.path.dirname(base) or ".")
        return existed

    @staticmethod
    def _delete_locked(base: str) -> bool:
        existed = False
        for suffix in (META, *[s for s in KNOWN_SUFFIXES if s != META]):
            try:
                os.unlink(base + suffix)
                existed = True
            except FileNotFoundError:
                continue
        return existed

    def location(self, base: str, suffix: str = "") -> str:
        """The file path of ``base`` + ``suffix``."""
        return base + suffix

    @staticmethod
    def sweep(directory: str, *, now: float | None = None) -> int:
        """Remove temporary files in ``directory`` whose writer is gone or that are stale; return how many.

        Temporaries of live writers (another thread or process writing right now) are left alone.
        """
        removed = 0
        now = time.time() if now is None else now
        try:
            names = os.listdir(directory)
        except OSError:
            return 0
        for name in names:
            marker = name.rfind(TEMP_MARKER)
            if marker < 0:
                continue
            pid_text = name[marker + len(TEMP_MARKER) :].split("-", 1)[0]
            path = os.path.join(directory, name)
            try:
                age = now - os.stat(path).st_mtime
            except OSError:
                continue
            if pid_text.isdigit() and _pid_alive(int(pid_text)) and age < STALE_TEMP_SECONDS:
                continue
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed += 1
        return removed


__all__ = ["STALE_TEMP_SECONDS", "TEMP_MARKER", "FileSystemCheckpointStore", "write_file_atomic"]
