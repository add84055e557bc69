"""The checkpoint file format: names, documents, checksums and signatures (pure functions, no I/O)."""

from __future__ import annotations

import json

import pytest

from graflow.checkpoints import format as fmt
from graflow.checkpoints.base import CheckpointError, location_scheme, open_store
from graflow.core.checkpoint import CheckpointMetadata, _DetachedSignature
from graflow.security.signing import PayloadSigner

UPSTREAM_META_FIELDS = ["checkpoint_id", "session_id", "created_at", "steps", "start_node", "backend", "user_metadata"]


def _files(signer: fmt.Signer | None = None, **meta_overrides: object) -> dict[str, bytes]:
    pkl, state = b"\x80\x05pickled-context", fmt.dump_json({"schema_version": "1.0", "resuming_task_id": None})
    meta = fmt.build_meta(
        checkpoint_id="s_2_100", session_id="s", created_at="2030-01-01T00:00:00+00:00", steps=2, start_node="a",
        backend={"channel": "memory"}, user_metadata={"note": "x"}, pkl=pkl, state=state, graph_hash="g" * 64,
        signer=signer,
    )  # fmt: skip
    meta.update(meta_overrides)
    return {fmt.PKL: pkl, fmt.STATE: state, fmt.META: fmt.dump_json(meta)}


def test_meta_document_keeps_upstream_fields_first_then_integrity_fields() -> None:
    meta = json.loads(_files()[fmt.META])
    assert list(meta)[:7] == UPSTREAM_META_FIELDS
    assert list(meta)[7:] == ["format_version", "pkl_sha256", "state_sha256", "channel_sha256", "graph_hash",
                              "signature"]
    assert meta["format_version"] == fmt.FORMAT_VERSION
    assert meta["pkl_sha256"] == fmt.sha256_hex(b"\x80\x05pickled-context")
    assert meta["signature"] is None


def test_json_files_are_indented_by_two_and_tolerate_non_json_metadata() -> None:
    from datetime import datetime

    text = fmt.dump_json({"when": datetime(2030, 1, 2), "tags": {"b"}}).decode()
    assert text.splitlines()[1].startswith('  "when": "2030-01-02T00:00:00"')
    assert json.loads(text)["tags"] == ["b"]


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("a/b.pkl", "a/b"),
        ("a/b", "a/b"),
        ("a/b.meta.json", "a/b"),
        ("a/b.state.json", "a/b"),
        ("a/b.channel.pkl", "a/b"),
        (".pkl", ".pkl"),
    ],
)
def test_a_trailing_checkpoint_suffix_is_stripped(given: str, base: str) -> None:
    assert fmt.strip_suffix(given) == base


def test_default_base_and_id_follow_upstream() -> None:
    assert fmt.default_base("checkpoints", "abc", 3, 1700) == "checkpoints/abc/session_abc_step_3_1700"
    assert fmt.default_base("", "abc", 3, 1700) == "abc/session_abc_step_3_1700"
    assert fmt.checkpoint_id("abc", 3, 1700) == "abc_3_1700"


def test_intact_files_verify() -> None:
    meta = fmt.verify_files(_files())
    assert meta["checkpoint_id"] == "s_2_100"


@pytest.mark.parametrize(
    ("mutate", "check"),
    [
        (lambda f: f.pop(fmt.META), "missing"),
        (lambda f: f.pop(fmt.PKL), "missing"),
        (lambda f: f.pop(fmt.STATE), "missing"),
        (lambda f: f.__setitem__(fmt.META, b"{not json"), "meta"),
        (lambda f: f.__setitem__(fmt.META, b"[]"), "meta"),
        (lambda f: f.__setitem__(fmt.PKL, f[fmt.PKL][:-1]), "checksum"),
        (lambda f: f.__setitem__(fmt.STATE, f[fmt.STATE] + b" "), "checksum"),
    ],
)
def test_damaged_files_are_refused_naming_the_check(mutate: object, check: str) -> None:
    files = _files()
    mutate(files)  # type: ignore[operator]
    with pytest.raises(CheckpointError) as info:
        fmt.verify_files(files, location="loc")
    assert info.value.check == check
    assert f"refused: {check} check failed" in str(info.value)
    assert "'loc'" in str(info.value)


def test_channel_snapshot_is_checked_when_the_meta_names_one() -> None:
    files = _files(channel_sha256=fmt.sha256_hex(b"snap"))
    with pytest.raises(CheckpointError, match=r"channel\.pkl"):
        fmt.verify_files(files)
    files[fmt.CHANNEL] = b"snap"
    fmt.verify_files(files)
    files[fmt.CHANNEL] = b"snap!"
    with pytest.raises(CheckpointError, match="checksum"):
        fmt.verify_files(files)


def test_signature_covers_checksums_and_graph_hash() -> None:
    signer = _DetachedSignature(PayloadSigner("k" * 32))
    files = _files(signer)
    assert fmt.verify_files(files, signer=signer)["signature"]

    forged = json.loads(files[fmt.META])
    forged["graph_hash"] = "h" * 64
    files[fmt.META] = fmt.dump_json(forged)
    with pytest.raises(CheckpointError) as info:
        fmt.verify_files(files, signer=signer)
    assert info.value.check == "signature"


def test_other_secret_unsigned_and_unverifiable_signatures_are_refused() -> None:
    mine, theirs = _DetachedSignature(PayloadSigner("k" * 32)), _DetachedSignature(PayloadSigner("z" * 32))
    with pytest.raises(CheckpointError, match="does not match"):
        fmt.verify_files(_files(theirs), signer=mine)
    with pytest.raises(CheckpointError, match="not signed"):
        fmt.verify_files(_files(), signer=mine)
    with pytest.raises(CheckpointError, match="no signing secret"):
        fmt.verify_files(_files(mine))
    assert not mine.verify(b"x", "not hex")


def test_graph_hash_is_compared_when_recorded() -> None:
    fmt.verify_graph_hash({"graph_hash": None}, "anything")
    fmt.verify_graph_hash({"graph_hash": "a"}, "a")
    with pytest.raises(CheckpointError) as info:
        fmt.verify_graph_hash({"graph_hash": "a"}, "b")
    assert info.value.check == "graph_hash"


def test_metadata_round_trips_and_accepts_upstream_documents() -> None:
    upstream = {"checkpoint_id": "s_1_2", "session_id": "s", "created_at": "t", "steps": 1, "start_node": None,
                "backend": {"channel": "memory"}, "user_metadata": {}}  # fmt: skip
    meta = CheckpointMetadata.from_dict(upstream)
    assert meta.pkl_sha256 is None
    assert {k: v for k, v in meta.to_dict().items() if k in upstream} == upstream
    created = CheckpointMetadata.create(checkpoint_id="i", session_id="s", steps=0, start_node="a",
                                        backend={"channel": "memory"}, user_metadata={"a": 1})
    assert created.created_at.endswith("+00:00")


@pytest.mark.parametrize(
    ("location", "scheme"),
    [("a/b", "file"), ("/abs/b.pkl", "file"), ("file:///x", "file"), ("redis://h:1/0/x", "redis"),
     ("rediss://h/0/x", "rediss"), ("S3://bucket/x", "s3")],
)  # fmt: skip
def test_location_scheme(location: str, scheme: str) -> None:
    assert location_scheme(location) == scheme


def test_s3_is_not_implemented_and_unknown_schemes_are_refused() -> None:
    with pytest.raises(NotImplementedError, match="s3"):
        open_store("s3://bucket/key")
    with pytest.raises(CheckpointError, match="no checkpoint store"):
        open_store("ftp://host/key")


def test_redis_locations_parse_db_base_prefix_and_ttl() -> None:
    pytest.importorskip("redis")
    store, base = open_store("redis://user:pw@host:6390/3/runs/x/session_1.pkl?prefix=p1&ttl=60")
    assert base == "runs/x/session_1"
    assert store.prefix == "p1" and store.ttl == 60  # type: ignore[attr-defined]
    assert store.location(base, ".pkl") == "redis://user:pw@host:6390/3/runs/x/session_1.pkl?prefix=p1&ttl=60"
    store, base = open_store("redis://host/runs/x")
    assert base == "runs/x" and store.location(base) == "redis://host/0/runs/x"
    with pytest.raises(CheckpointError, match="ttl"):
        open_store("redis://host/0/x?ttl=soon")
