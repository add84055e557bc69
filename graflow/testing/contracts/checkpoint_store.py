"""The contract every :class:`~graflow.checkpoints.base.CheckpointStore` passes.

Use it by subclassing :class:`CheckpointStoreContract` in a pytest module and providing two fixtures:

``store``
    a fresh store instance;
``root``
    a directory prefix no other test uses (a temporary directory for files, a unique name for Redis).

Override :meth:`CheckpointStoreContract.leftovers` to report backend-specific debris (temporary files, keys) so the
failure tests can assert that nothing is left behind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from graflow.core.checkpoint_format import CHANNEL, META, PKL, STATE
from graflow.core.checkpoint_store import CheckpointStore, open_store


def make_set(tag: str, *, channel: bool = False, size: int = 64) -> dict[str, bytes]:
    """A checkpoint-like file set whose every blob starts with ``tag|`` (so a mixed set is detectable)."""
    head = f"{tag}|".encode()
    files = {PKL: head + b"\x00\xff" * size, STATE: head + b"state", META: head + b"meta"}
    if channel:
        files[CHANNEL] = head + b"channel"
    return files


def tags_of(files: Mapping[str, bytes]) -> set[str]:
    """The distinct tags found in a set written by :func:`make_set`."""
    return {data.split(b"|", 1)[0].decode() for data in files.values()}


class _FailingSet(Mapping[str, bytes]):
    """A file set that fails while its commit marker is produced, like a crash in the middle of a write."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._files = dict(files)

    def __getitem__(self, key: str) -> bytes:
        if key == META:
            raise RuntimeError("injected failure while producing .meta.json")
        return self._files[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


class CheckpointStoreContract:
    """Behaviour shared by every checkpoint store."""

    @pytest.fixture
    def store(self) -> CheckpointStore:
        raise NotImplementedError("provide a 'store' fixture")

    @pytest.fixture
    def root(self) -> str:
        raise NotImplementedError("provide a 'root' fixture")

    def leftovers(self, store: CheckpointStore, root: str) -> list[Any]:
        """Backend debris under ``root`` that no committed checkpoint accounts for (none by default)."""
        return []

    # -- write / read ---------------------------------------------------------------------------------------------
    def test_written_set_reads_back_byte_for_byte(self, store: CheckpointStore, root: str) -> None:
        base = f"{root}/run/a"
        files = make_set("a", channel=True, size=100_000)
        store.write(base, files)
        assert store.read(base) == files

    def test_read_returns_only_requested_suffixes(self, store: CheckpointStore, root: str) -> None:
        base = f"{root}/b"
        store.write(base, make_set("b"))
        assert set(store.read(base, [META])) == {META}

    def test_missing_base_reads_as_empty_and_does_not_exist(self, store: CheckpointStore, root: str) -> None:
        assert store.read(f"{root}/nothing") == {}
        assert not store.exists(f"{root}/nothing")

    def test_set_without_commit_marker_is_rejected(self, store: CheckpointStore, root: str) -> None:
        files = make_set("c")
        del files[META]
        with pytest.raises(ValueError, match=r"meta\.json"):
            store.write(f"{root}/c", files)
        assert store.read(f"{root}/c") == {}
        assert store.list(root) == []

    def test_overwrite_replaces_the_whole_set(self, store: CheckpointStore, root: str) -> None:
        base = f"{root}/d"
        store.write(base, make_set("old", channel=True))
        store.write(base, make_set("new"))
        files = store.read(base)
        assert set(files) == {PKL, STATE, META}
        assert tags_of(files) == {"new"}

    def test_failure_mid_write_keeps_previous_set_and_leaves_nothing(self, store: CheckpointStore, root: str) -> None:
        base = f"{root}/e"
        previous = make_set("previous")
        store.write(base, previous)
        with pytest.raises(RuntimeError, match="injected"):
            store.write(base, _FailingSet(make_set("torn")))
        assert store.read(base) == previous
        assert store.list(root) == [base]
        assert self.leftovers(store, root) == []

    def test_failure_on_first_write_leaves_no_checkpoint(self, store: CheckpointStore, root: str) -> None:
        with pytest.raises(RuntimeError, match="injected"):
            store.write(f"{root}/f", _FailingSet(make_set("torn")))
        assert store.read(f"{root}/f") == {}
        assert store.list(root) == []
        assert self.leftovers(store, root) == []

    def test_concurrent_writers_never_produce_a_mixed_set(self, store: CheckpointStore, root: str) -> None:
        base = f"{root}/g"
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def writer(tag: str) -> None:
            try:
                start.wait(timeout=10)
                for round_ in range(10):
                    store.write(base, make_set(f"{tag}{round_}", channel=round_ % 2 == 0))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(f"w{i}-",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert len(tags_of(store.read(base))) == 1
        assert self.leftovers(store, root) == []

    # -- list / delete / exists -----------------------------------------------------------------------------------
    def test_list_shows_committed_sets_below_a_directory_sorted(self, store: CheckpointStore, root: str) -> None:
        for name in ("s2/x", "s1/y", "s1/deeper/z"):
            store.write(f"{root}/{name}", make_set(name.replace("/", "")))
        store.write(f"{root}-sibling/other", make_set("other"))
        assert store.list(root) == sorted(f"{root}/{n}" for n in ("s2/x", "s1/y", "s1/deeper/z"))
        assert store.list(f"{root}/s1") == [f"{root}/s1/deeper/z", f"{root}/s1/y"]
        assert store.list(f"{root}/absent") == []
        store.delete(f"{root}-sibling/other")

    def test_delete_removes_the_set_once(self, store: CheckpointStore, root: str) -> None:
        base = f"{root}/h"
        store.write(base, make_set("h", channel=True))
        assert store.exists(base)
        assert store.delete(base) is True
        assert store.delete(base) is False
        assert store.read(base) == {}
        assert not store.exists(base)
        assert store.list(root) == []

    # -- locations ------------------------------------------------------------------------------------------------
    def test_location_names_the_same_checkpoint_when_reopened(self, store: CheckpointStore, root: str) -> None:
        base = f"{root}/i"
        files = make_set("i")
        store.write(base, files)
        for suffix in ("", PKL, META):
            reopened, reopened_base = open_store(store.location(base, suffix))
            assert type(reopened) is type(store)
            assert reopened_base == base
            assert reopened.read(reopened_base) == files


__all__ = ["CheckpointStoreContract", "make_set", "tags_of"]
