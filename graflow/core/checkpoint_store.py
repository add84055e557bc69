"""The checkpoint store contract and the error every refused or failed checkpoint raises.

A checkpoint is a handful of byte blobs that share a *base* name and differ by suffix (``.pkl``, ``.state.json``,
``.meta.json`` and, when the channel was snapshotted, ``.channel.pkl``). A store keeps such sets and guarantees that
a set is either wholly written or not visible: the ``.meta.json`` blob is the commit marker, written last.

Every store passes the shared suite in :mod:`graflow.testing.contracts.checkpoint_store`. Stores are found by
URL scheme through :mod:`graflow.core.registry`; ``graflow.checkpoints.base`` re-exports this module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

from graflow.core import registry
from graflow.exceptions import CheckpointError

#: Store implementations by URL scheme: the registry's ``checkpoint_store`` names, imported only when a location with
#: that scheme is used. A path without a scheme is a filesystem path.
STORE_BACKENDS: dict[str, str] = registry.BUILTIN["checkpoint_store"]

#: Schemes that name a storage upstream knows about but no store here implements.
UNSUPPORTED_SCHEMES: frozenset[str] = frozenset({"s3", "gs", "gcs", "az", "abfs"})


class CheckpointStore(ABC):
    """Keeps checkpoint file sets under base names.

    Bases are ``/``-separated names (a filesystem path for the filesystem store, a key suffix for Redis). A store
    never interprets the blobs it keeps.
    """

    #: URL scheme this store answers to ("file" for plain paths).
    scheme: str = "file"

    @classmethod
    @abstractmethod
    def from_location(cls, location: str) -> tuple[CheckpointStore, str]:
        """The store a location string names and the base inside it, with any checkpoint file suffix stripped.

        Raises:
            CheckpointError: With ``check="location"`` when the location is malformed.
        """

    @abstractmethod
    def write(self, base: str, files: Mapping[str, bytes]) -> None:
        """Store ``files`` (suffix -> bytes) under ``base``, replacing any set already there.

        All-or-nothing as far as readers are concerned: ``.meta.json`` is required and becomes visible last, and a
        failure while the blobs are produced or written leaves the previous set of ``base`` (if any) untouched and
        no temporary data behind.

        Raises:
            ValueError: ``files`` has no ``.meta.json`` entry.
            CheckpointError: With ``check="write"`` when the backend fails.
        """

    @abstractmethod
    def read(self, base: str, suffixes: Iterable[str] | None = None) -> dict[str, bytes]:
        """The blobs stored under ``base`` (only ``suffixes`` when given); missing ones are simply absent."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Committed bases (those whose ``.meta.json`` exists) at or below the directory ``prefix``, sorted."""

    @abstractmethod
    def delete(self, base: str) -> bool:
        """Remove every blob of ``base``; return whether anything existed."""

    @abstractmethod
    def location(self, base: str, suffix: str = "") -> str:
        """The user-facing name of ``base`` + ``suffix``: a path, or a URL that :func:`open_store` accepts."""

    def exists(self, base: str) -> bool:
        """Whether a committed checkpoint exists under ``base``."""
        return ".meta.json" in self.read(base, (".meta.json",))


def location_scheme(location: str) -> str:
    """The URL scheme of ``location`` in lower case, or ``"file"`` for a plain path."""
    head, sep, _ = location.partition("://")
    if sep and head and head.replace("+", "").isalnum():
        return head.lower()
    return "file"


def _store_class(scheme: str) -> Any:
    if scheme in UNSUPPORTED_SCHEMES:
        raise NotImplementedError(f"Checkpoint backend '{scheme}' is not implemented")
    if not registry.known("checkpoint_store", scheme):
        raise CheckpointError("location", f"no checkpoint store for scheme '{scheme}://'")
    return registry.resolve("checkpoint_store", scheme)


def open_store(location: str) -> tuple[CheckpointStore, str]:
    """The store for ``location`` and the base name inside it (any known file suffix stripped).

    Raises:
        NotImplementedError: The scheme is a known storage (``s3://``) that no store implements.
        CheckpointError: The scheme is unknown or the location is malformed.
    """
    cls = _store_class(location_scheme(location))
    store, base = cls.from_location(location)
    return store, str(base)


__all__ = [
    "STORE_BACKENDS",
    "UNSUPPORTED_SCHEMES",
    "CheckpointError",
    "CheckpointStore",
    "location_scheme",
    "open_store",
]
