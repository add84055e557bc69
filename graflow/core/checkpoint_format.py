"""The checkpoint file format: names, JSON documents, checksums, signature and the checks run before unpickling.

A checkpoint is three files sharing a base name (upstream's names and fields)::

    <base>.pkl          the cloudpickled ExecutionContext
    <base>.state.json   human-readable run state (indent 2)
    <base>.meta.json    identity + user metadata; written last, it is the commit marker

and, only when a Redis channel was snapshotted, ``<base>.channel.pkl`` (the channel's keys and values).

``.meta.json`` carries upstream's fields plus ours: ``format_version``, ``pkl_sha256``, ``state_sha256``,
``channel_sha256`` (or null), ``graph_hash`` and ``signature``. The signature is an HMAC over a manifest naming the
checkpoint id, session, steps, every checksum and the graph hash, so it covers the pickle (through its checksum) and
the state the resume reads. Pure functions on bytes and dicts; standard library only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import PurePath
from typing import Any, Protocol

from graflow.exceptions import CheckpointError

FORMAT_VERSION = 1

PKL = ".pkl"
STATE = ".state.json"
META = ".meta.json"
CHANNEL = ".channel.pkl"

#: Files every checkpoint has.
REQUIRED: tuple[str, ...] = (PKL, STATE, META)
#: Order in which a store makes files visible; ``.meta.json`` last because it commits the set.
WRITE_ORDER: tuple[str, ...] = (PKL, CHANNEL, STATE, META)
#: Suffixes stripped from a user-supplied location, longest first so ``.channel.pkl`` wins over ``.pkl``.
KNOWN_SUFFIXES: tuple[str, ...] = (CHANNEL, STATE, META, PKL)


class Signer(Protocol):
    """What the format needs from a signer (an HMAC with a configured secret)."""

    def sign(self, data: bytes) -> str:
        """The signature of ``data`` as text."""
        ...

    def verify(self, data: bytes, signature: str) -> bool:
        """Whether ``signature`` is valid for ``data``."""
        ...


def strip_suffix(name: str) -> str:
    """``name`` without a trailing checkpoint file suffix (upstream strips ``.pkl``; we accept any of ours)."""
    for suffix in KNOWN_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def _json_default(value: Any) -> Any:
    # Metadata is the user's; a datetime or a set in it should not make the checkpoint fail.
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, PurePath):
        return str(value)
    return repr(value)


def dump_json(document: Mapping[str, Any]) -> bytes:
    """Encode a JSON document the way upstream writes its files (UTF-8, indent 2)."""
    return json.dumps(document, ensure_ascii=False, indent=2, default=_json_default).encode("utf-8")


def load_json(data: bytes, what: str, *, location: str | None = None) -> dict[str, Any]:
    """Decode a JSON object, refusing anything else with ``check=what``."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(what, f"{what} file is not valid JSON ({exc})", location=location, cause=exc) from exc
    if not isinstance(document, dict):
        raise CheckpointError(what, f"{what} file does not hold a JSON object", location=location)
    return document


def checkpoint_id(session_id: str, steps: int, unix_ts: int) -> str:
    """Upstream's checkpoint id: ``<session>_<steps>_<unix_ts>``."""
    return f"{session_id}_{steps}_{unix_ts}"


def default_base(directory: str, session_id: str, steps: int, unix_ts: int) -> str:
    """Upstream's default base: ``<directory>/<session>/session_<session>_step_<steps>_<unix_ts>``."""
    name = f"{session_id}/session_{session_id}_step_{steps}_{unix_ts}"
    directory = directory.rstrip("/")
    return f"{directory}/{name}" if directory else name


def signing_manifest(meta: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint signature covers, built from the fields of its meta document."""
    fields = ("checkpoint_id", "session_id", "steps", "pkl_sha256", "state_sha256", "channel_sha256", "graph_hash")
    lines = [f"graflow-checkpoint/{meta.get('format_version')}"]
    lines += [f"{field}={meta.get(field)}" for field in fields]
    return "\n".join(lines).encode("utf-8")


def build_meta(
    *,
    checkpoint_id: str,
    session_id: str,
    created_at: str,
    steps: int,
    start_node: str | None,
    backend: Mapping[str, Any],
    user_metadata: Mapping[str, Any],
    pkl: bytes,
    state: bytes,
    graph_hash: str | None,
    channel: bytes | None = None,
    signer: Signer | None = None,
) -> dict[str, Any]:
    """The ``.meta.json`` document: upstream's fields first, then the integrity fields."""
    meta: dict[str, Any] = {
        "checkpoint_id": checkpoint_id,
        "session_id": session_id,
        "created_at": created_at,
        "steps": steps,
        "start_node": start_node,
        "backend": dict(backend),
        "user_metadata": dict(user_metadata),
        "format_version": FORMAT_VERSION,
        "pkl_sha256": sha256_hex(pkl),
        "state_sha256": sha256_hex(state),
        "channel_sha256": sha256_hex(channel) if channel is not None else None,
        "graph_hash": graph_hash,
        "signature": None,
    }
    if signer is not None:
        meta["signature"] = signer.sign(signing_manifest(meta))
    return meta


def verify_files(
    files: Mapping[str, bytes], *, location: str | None = None, signer: Signer | None = None
) -> dict[str, Any]:
    """Run every check that needs no unpickling and return the decoded meta document.

    Checks, in order: all three files present (``missing``), meta decodes (``meta``), a known ``format_version``
    (``format_version``), the pickle, state and channel checksums (``checksum``), and the signature (``signature``):
    required when ``signer`` is given, and a signed checkpoint is refused when there is no secret to check it with.

    Raises:
        CheckpointError: naming the first check that failed.
    """
    missing = [suffix for suffix in REQUIRED if suffix not in files]
    if missing:
        what = "commit marker .meta.json" if missing == [META] else ", ".join(missing)
        raise CheckpointError("missing", f"missing {what}", location=location)
    meta = load_json(files[META], "meta", location=location)
    version = meta.get("format_version")
    if version is None or "pkl_sha256" not in meta:
        raise CheckpointError(
            "format_version",
            "meta has no format_version/pkl_sha256 (unverifiable legacy checkpoint)",
            location=location,
        )
    if version != FORMAT_VERSION:
        raise CheckpointError("format_version", f"unsupported format_version {version!r}", location=location)
    _check_digest(files[PKL], meta.get("pkl_sha256"), ".pkl", location)
    _check_digest(files[STATE], meta.get("state_sha256"), ".state.json", location)
    if meta.get("channel_sha256") is not None:
        if CHANNEL not in files:
            raise CheckpointError("missing", f"missing {CHANNEL} named by the meta file", location=location)
        _check_digest(files[CHANNEL], meta["channel_sha256"], CHANNEL, location)
    signature = meta.get("signature")
    if signer is not None:
        if not signature:
            raise CheckpointError("signature", "checkpoint is not signed but a signing secret is configured",
                                  location=location)
        if not signer.verify(signing_manifest(meta), str(signature)):
            raise CheckpointError("signature", "signature does not match (tampered, or signed with another secret)",
                                  location=location)
    elif signature:
        raise CheckpointError("signature", "checkpoint is signed but no signing secret is configured to verify it",
                              location=location)
    return meta


def _check_digest(data: bytes, expected: Any, name: str, location: str | None) -> None:
    actual = sha256_hex(data)
    if actual != expected:
        raise CheckpointError(
            "checksum",
            f"{name} sha256 {actual[:12]}... does not match the recorded {str(expected)[:12]}... "
            f"({len(data)} bytes; torn, truncated or modified)",
            location=location,
        )


def verify_graph_hash(meta: Mapping[str, Any], actual: str | None, *, location: str | None = None) -> None:
    """Refuse a loaded context whose graph does not hash to what the meta file recorded."""
    expected = meta.get("graph_hash")
    if expected is not None and actual != expected:
        raise CheckpointError(
            "graph_hash", f"loaded graph hashes to {actual} but the checkpoint recorded {expected}", location=location
        )


__all__ = [
    "CHANNEL",
    "FORMAT_VERSION",
    "KNOWN_SUFFIXES",
    "META",
    "PKL",
    "REQUIRED",
    "STATE",
    "WRITE_ORDER",
    "Signer",
    "build_meta",
    "checkpoint_id",
    "default_base",
    "dump_json",
    "load_json",
    "sha256_hex",
    "signing_manifest",
    "strip_suffix",
    "verify_files",
    "verify_graph_hash",
]
