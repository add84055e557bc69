"""Checkpoints of a run: create, verify, resume, list, and the periodic policy (spec section 9, D22).

The file format and its checks live in :mod:`graflow.checkpoints.format`; where the files go is a
:class:`~graflow.checkpoints.base.CheckpointStore` picked from the location (a path, or ``redis://...``).
Resume verifies everything it can *before* unpickling: the commit marker, the checksums, the signature when a
signing secret is configured (``GRAFLOW_SECRET_KEY``); after loading, the graph's content hash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from graflow import defaults
from graflow.core import checkpoint_format as fmt
from graflow.core import serialization
from graflow.core.checkpoint_store import CheckpointError, CheckpointStore, location_scheme, open_store
from graflow.exceptions import ConfigError

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext

logger = logging.getLogger(__name__)

_UPSTREAM_FIELDS = ("checkpoint_id", "session_id", "created_at", "steps", "start_node", "backend", "user_metadata")
_INTEGRITY_FIELDS = ("format_version", "pkl_sha256", "state_sha256", "channel_sha256", "graph_hash", "signature")


@dataclass
class CheckpointMetadata:
    """The content of ``<base>.meta.json``: upstream's fields, then the integrity fields (D22)."""

    checkpoint_id: str
    session_id: str
    created_at: str
    steps: int
    start_node: str | None
    backend: dict[str, str]
    user_metadata: dict[str, Any]
    format_version: int | None = None
    pkl_sha256: str | None = None
    state_sha256: str | None = None
    channel_sha256: str | None = None
    graph_hash: str | None = None
    signature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """All fields, upstream's first."""
        return {name: getattr(self, name) for name in (*_UPSTREAM_FIELDS, *_INTEGRITY_FIELDS)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointMetadata:
        """Build from a meta document; integrity fields may be absent."""
        return cls(
            checkpoint_id=data["checkpoint_id"],
            session_id=data["session_id"],
            created_at=data["created_at"],
            steps=data["steps"],
            start_node=data.get("start_node"),
            backend=dict(data.get("backend") or {}),
            user_metadata=dict(data.get("user_metadata") or {}),
            **{name: data.get(name) for name in _INTEGRITY_FIELDS},
        )

    @classmethod
    def create(
        cls,
        *,
        checkpoint_id: str,
        session_id: str,
        steps: int,
        start_node: str | None,
        backend: dict[str, str],
        user_metadata: dict[str, Any],
    ) -> CheckpointMetadata:
        """Metadata stamped with the current UTC time (upstream's constructor)."""
        return cls(checkpoint_id, session_id, datetime.now(UTC).isoformat(), steps, start_node, backend,
                   user_metadata)


@dataclass
class CheckpointInfo:
    """One row of a checkpoint listing."""

    location: str
    checkpoint_id: str
    session_id: str
    created_at: str
    steps: int
    next_task: str | None
    pending: int
    user_metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


class _DetachedSignature:
    """Adapts a frame signer (``graflow.security.signing``) to detached, hex-encoded signatures."""

    def __init__(self, signer: Any) -> None:
        self._signer = signer

    def sign(self, data: bytes) -> str:
        frame: bytes = self._signer.sign(data)
        return frame[: len(frame) - len(data)].hex()

    def verify(self, data: bytes, signature: str) -> bool:
        from graflow.security.signing import BadSignatureError

        try:
            self._signer.verify(bytes.fromhex(signature) + data)
        except (ValueError, BadSignatureError):
            return False
        return True


def _configured_signer() -> fmt.Signer | None:
    from graflow.security.signing import PayloadSigner

    signer = PayloadSigner.from_env()
    return _DetachedSignature(signer) if signer is not None else None


def _default_location(context: ExecutionContext, unix_ts: int) -> str:
    directory = getattr(context, "checkpoint_dir", None) or defaults.CHECKPOINT_DIR
    directory, sep, query = str(directory).partition("?")
    base = fmt.default_base(directory, context.session_id, context.steps, unix_ts)
    return f"{base}?{query}" if sep else base


def _unused_base(store: CheckpointStore, base: str) -> str:
    """``base``, or ``base_<n>`` when a checkpoint of that name exists already (a run that pauses again at the
    same step within the same second must not replace its earlier checkpoint)."""
    candidate, n = base, 1
    while store.exists(candidate):
        n += 1
        candidate = f"{base}_{n}"
    return candidate


class CheckpointManager:
    """Create and restore workflow checkpoints."""

    @classmethod
    def create_checkpoint(
        cls,
        context: ExecutionContext,
        *,
        path: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        resuming_task_id: str | None = None,
        snapshot_channel: bool | None = None,
    ) -> tuple[str, CheckpointMetadata]:
        """Write a checkpoint of ``context`` and return ``(pkl_location, metadata)``.

        Args:
            context: The run to checkpoint.
            path: Base location (a trailing ``.pkl`` is stripped) or ``redis://host:port/db/<base>``. Default:
                ``<checkpoint_dir or "checkpoints">/<session>/session_<session>_step_<steps>_<unix_ts>``.
            metadata: User metadata stored in ``.meta.json``.
            resuming_task_id: Task queued first on resume (immediate checkpoints pass the running task).
            snapshot_channel: For a Redis channel, also store a copy of its keys (``.channel.pkl``); defaults to
                the context's ``checkpoint_snapshot_channel`` attribute, else False. Memory channels are always
                inside the pickle.

        Raises:
            NotImplementedError: ``s3://`` and other unsupported storages.
            CheckpointError: The context cannot be pickled or the store failed (``check="write"``).
        """
        started = time.perf_counter()
        unix_ts = int(time.time())
        location = path if path is not None else _default_location(context, unix_ts)
        store, base = open_store(location)
        if path is None:
            base = _unused_base(store, base)  # a second checkpoint at the same step in the same second
        state = context.get_checkpoint_state()
        state["resuming_task_id"] = resuming_task_id
        try:
            pkl = serialization.dumps(context)
        except Exception as exc:
            raise CheckpointError("write", f"the execution context cannot be pickled: {exc}", location=location,
                                  cause=exc) from exc
        channel_blob = cls._channel_snapshot(context, snapshot_channel)
        state_blob = fmt.dump_json(state)
        meta = fmt.build_meta(
            checkpoint_id=fmt.checkpoint_id(context.session_id, context.steps, unix_ts),
            session_id=context.session_id,
            created_at=datetime.now(UTC).isoformat(),
            steps=context.steps,
            start_node=context.start_node,
            backend=state["backend"],
            user_metadata=dict(metadata or {}),
            pkl=pkl,
            state=state_blob,
            graph_hash=context.graph_content_hash(),
            channel=channel_blob,
            signer=_configured_signer(),
        )
        files = {fmt.PKL: pkl, fmt.STATE: state_blob, fmt.META: fmt.dump_json(meta)}
        if channel_blob is not None:
            files[fmt.CHANNEL] = channel_blob
        store.write(base, files)
        pkl_location = store.location(base, fmt.PKL)
        result = CheckpointMetadata.from_dict(meta)
        context.checkpoint_metadata = result.to_dict()
        context.last_checkpoint_path = pkl_location
        policy = getattr(context, "checkpoint_policy", None)
        if policy is not None:
            policy.note_checkpoint(context)
        duration = time.perf_counter() - started
        logger.info("Checkpoint %s written to %s in %.3fs", result.checkpoint_id, pkl_location, duration)
        context.hooks.emit("on_checkpoint", context=context, path=pkl_location, duration=duration)
        return pkl_location, result

    @staticmethod
    def _channel_snapshot(context: ExecutionContext, requested: bool | None) -> bytes | None:
        if requested is None:
            requested = bool(getattr(context, "checkpoint_snapshot_channel", False))
        if not requested or context.channel_backend == "memory":
            return None
        channel = context.channel
        return serialization.dumps({key: channel.get(key) for key in channel.keys()})  # noqa: SIM118 - Channel.keys() is a method, not a dict

    @classmethod
    def verify_checkpoint(cls, checkpoint_path: str) -> CheckpointMetadata:
        """Run every check that needs no unpickling; return the metadata.

        Raises:
            CheckpointError: naming the failed check (``missing``, ``meta``, ``checksum``, ``signature`` ...).
        """
        store, base = open_store(checkpoint_path)
        meta = fmt.verify_files(store.read(base), location=checkpoint_path, signer=_configured_signer())
        return CheckpointMetadata.from_dict(meta)

    @classmethod
    def resume_from_checkpoint(
        cls, checkpoint_path: str, *, restore_channel: bool = False
    ) -> tuple[ExecutionContext, CheckpointMetadata]:
        """Verify, load and prepare a checkpoint; continue with ``ctx.execute()``.

        The session id, graph (with dynamic and iteration nodes), memory-channel data, completed tasks, cycle
        counts and the whole queue (ready tasks, retries waiting out their delay, pending joins) come back; the
        ``resuming_task_id`` of an immediate checkpoint runs first. A Redis channel is reattached by session id
        and its data is whatever Redis holds now, unless ``restore_channel=True`` puts back the snapshot taken
        with ``snapshot_channel=True``.

        Raises:
            CheckpointError: The checkpoint is missing a file, torn, truncated, tampered with, signed with another
                secret, or does not hold a matching ExecutionContext; ``check`` names the failed check.
        """
        from graflow.core.context import ExecutionContext

        store, base = open_store(checkpoint_path)
        files = store.read(base)
        meta = fmt.verify_files(files, location=checkpoint_path, signer=_configured_signer())
        state = fmt.load_json(files[fmt.STATE], "state", location=checkpoint_path)
        try:
            context = serialization.loads(files[fmt.PKL])
        except Exception as exc:
            raise CheckpointError("unpickle", f"the .pkl could not be loaded: {exc!r}", location=checkpoint_path,
                                  cause=exc) from exc
        if not isinstance(context, ExecutionContext):
            raise CheckpointError("unpickle", f"the .pkl holds a {type(context).__name__}, not an ExecutionContext",
                                  location=checkpoint_path)
        fmt.verify_graph_hash(meta, context.graph_content_hash(), location=checkpoint_path)
        if context.session_id != meta["session_id"]:
            raise CheckpointError("meta", f"meta names session {meta['session_id']} but the .pkl holds "
                                  f"{context.session_id}", location=checkpoint_path)
        cls._restore_queue(context, state.get("resuming_task_id"))
        if restore_channel:
            cls._restore_channel(context, files, checkpoint_path)
        policy = getattr(context, "checkpoint_policy", None)
        if policy is not None:
            policy.on_resume(context)
        context.checkpoint_metadata = dict(meta)
        context.last_checkpoint_path = store.location(base, fmt.PKL)
        logger.info("Resumed session %s from %s at step %d", context.session_id, checkpoint_path, context.steps)
        return context, CheckpointMetadata.from_dict(meta)

    @staticmethod
    def _restore_queue(context: ExecutionContext, resuming_task_id: str | None) -> None:
        from graflow.core.task import Task

        pending = context.scheduler.pending_ids()
        wanted = [resuming_task_id, *pending] if resuming_task_id is not None else pending
        for task_id in wanted:
            if task_id not in context.graph:
                # Upstream's behaviour: an id the graph does not know becomes a placeholder task.
                logger.warning("Checkpointed task '%s' is not in the graph; queued as a placeholder", task_id)
                context._own_graph().add_node(Task(task_id, register_to_context=False), task_id)
        if resuming_task_id is not None:
            context.scheduler.push_front(resuming_task_id)

    @staticmethod
    def _restore_channel(context: ExecutionContext, files: Mapping[str, bytes], location: str) -> None:
        if fmt.CHANNEL not in files:
            raise CheckpointError(
                "channel_snapshot",
                "restore_channel=True but the checkpoint has no channel snapshot (create it with "
                "snapshot_channel=True; memory channels are restored from the .pkl anyway)",
                location=location,
            )
        data = serialization.loads(files[fmt.CHANNEL])
        channel = context.channel
        channel.clear()
        for key, value in data.items():
            channel.set(key, value)

    @classmethod
    def list_checkpoints(cls, location: str, *, verify: bool = False) -> list[CheckpointInfo]:
        """The committed checkpoints at or below ``location`` (a directory or ``redis://.../<dir>``), oldest first.

        With ``verify=True`` each row's ``error`` says why resume would refuse it (checksums, signature).
        """
        store, prefix = open_store(location)
        if location_scheme(location) == "file":
            prefix = location.removeprefix("file://")
        rows = [cls._info(store, base, verify) for base in store.list(prefix)]
        return sorted(rows, key=lambda row: (row.created_at, row.steps, row.location))

    @staticmethod
    def _info(store: CheckpointStore, base: str, verify: bool) -> CheckpointInfo:
        location = store.location(base, fmt.PKL)
        files = store.read(base) if verify else store.read(base, (fmt.STATE, fmt.META))
        meta: dict[str, Any] = {}
        state: dict[str, Any] = {}
        error = None
        try:
            meta = fmt.load_json(files.get(fmt.META, b"{}"), "meta", location=location)
            state = fmt.load_json(files.get(fmt.STATE, b"{}"), "state", location=location)
            if verify:
                fmt.verify_files(files, location=location, signer=_configured_signer())
        except CheckpointError as exc:
            error = f"{exc.check}: {exc.detail}"
        pending = [p.get("task_id") for p in state.get("pending_tasks") or [] if isinstance(p, dict)]
        next_task = state.get("resuming_task_id") or (pending[0] if pending else None)
        return CheckpointInfo(
            location=location,
            checkpoint_id=str(meta.get("checkpoint_id", "?")),
            session_id=str(meta.get("session_id", "?")),
            created_at=str(meta.get("created_at", "")),
            steps=int(meta.get("steps", 0) or 0),
            next_task=next_task,
            pending=len(pending) + (1 if state.get("resuming_task_id") else 0),
            user_metadata=dict(meta.get("user_metadata") or {}),
            error=error,
        )


class PeriodicCheckpointPolicy:
    """Writes a checkpoint every ``steps`` completed tasks and/or every ``seconds``, whichever comes first.

    The engine calls :meth:`after_step` once a task completed and its successors are queued. Counting restarts
    at every checkpoint of the run (a task's own ``ctx.checkpoint()`` included). No checkpoint is written once
    nothing is left to run.

    Args:
        steps: Checkpoint when this many steps completed since the last checkpoint.
        seconds: Checkpoint when this much time passed since the last checkpoint (checked after each step).
        keep_last: Delete older checkpoints written by this policy, keeping this many; None keeps all.
        clock: Monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        *,
        steps: int | None = None,
        seconds: float | None = None,
        keep_last: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if steps is None and seconds is None:
            raise ConfigError("checkpoint_every needs steps and/or seconds")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ConfigError(f"checkpoint_every steps must be a positive int, got {steps!r}")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                                    or not seconds > 0):
            raise ConfigError(f"checkpoint_every seconds must be a positive number, got {seconds!r}")
        if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int)
                                      or keep_last < 1):
            raise ConfigError(f"checkpoint_every keep_last must be a positive int, got {keep_last!r}")
        self.steps = steps
        self.seconds = float(seconds) if seconds is not None else None
        self.keep_last = keep_last
        self.clock = clock
        self._last_steps = 0
        self._last_time: float | None = clock()
        self._written: list[str] = []

    @classmethod
    def from_spec(cls, spec: Any) -> PeriodicCheckpointPolicy:
        """Build from ``checkpoint_every``.

        Accepted: an ``int`` (steps), a ``datetime.timedelta`` (time), a dict with ``steps`` and/or ``seconds``
        (number or timedelta) and optionally ``keep_last``, or a policy instance. A bare float is refused as
        ambiguous: write ``{"seconds": 2.5}``.

        Raises:
            ConfigError: The spec is none of these or holds a non-positive value.
        """
        if isinstance(spec, PeriodicCheckpointPolicy):
            return spec
        if isinstance(spec, int) and not isinstance(spec, bool):
            return cls(steps=spec)
        if isinstance(spec, timedelta):
            return cls(seconds=spec.total_seconds())
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"steps", "seconds", "keep_last"}
            if unknown:
                raise ConfigError(f"checkpoint_every has unknown keys {sorted(unknown)}; use steps, seconds, "
                                  "keep_last")
            seconds = spec.get("seconds")
            if isinstance(seconds, timedelta):
                seconds = seconds.total_seconds()
            return cls(steps=spec.get("steps"), seconds=seconds, keep_last=spec.get("keep_last"))
        hint = f' (a float is ambiguous: write {{"seconds": {spec!r}}})' if isinstance(spec, float) else ""
        raise ConfigError(
            f"checkpoint_every must be an int (steps), a timedelta, or a dict with 'steps' and/or 'seconds'; "
            f"got {spec!r}{hint}"
        )

    def is_due(self, context: ExecutionContext) -> bool:
        """Whether a checkpoint is due after the step just completed."""
        if self.steps is not None and context.steps - self._last_steps >= self.steps:
            return True
        if self.seconds is not None:
            now = self.clock()
            if self._last_time is None:
                self._last_time = now
            return now - self._last_time >= self.seconds
        return False

    def after_step(self, context: ExecutionContext) -> str | None:
        """Write a checkpoint when one is due; return its ``.pkl`` location or None."""
        if not self.is_due(context) or context.is_completed():
            return None
        metadata = {"trigger": "periodic", "steps_every": self.steps, "seconds_every": self.seconds}
        pkl_location, _ = CheckpointManager.create_checkpoint(context, metadata=metadata)
        self._written.append(pkl_location)
        if self.keep_last is not None:
            while len(self._written) > self.keep_last:
                old = self._written.pop(0)
                store, base = open_store(old)
                store.delete(base)
        return pkl_location

    def note_checkpoint(self, context: ExecutionContext) -> None:
        """Restart counting: a checkpoint of ``context`` was just written."""
        self._last_steps = context.steps
        self._last_time = self.clock()

    def on_resume(self, context: ExecutionContext) -> None:
        """Restart counting from the resumed step; the time counter starts at the next step."""
        self._last_steps = context.steps
        self._last_time = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_last_time"] = None  # monotonic time means nothing in another process
        return state

    def __repr__(self) -> str:
        return f"PeriodicCheckpointPolicy(steps={self.steps}, seconds={self.seconds}, keep_last={self.keep_last})"


__all__ = ["CheckpointError", "CheckpointInfo", "CheckpointManager", "CheckpointMetadata", "PeriodicCheckpointPolicy"]
