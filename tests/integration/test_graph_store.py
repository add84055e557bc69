"""GraphStore against a real Redis: content addressing, TTL refresh (D26), verification before unpickling (D20),
and clients of both ``decode_responses`` kinds (D21)."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

redis = pytest.importorskip("redis")

from graflow.core import serialization
from graflow.core.graph import TaskGraph
from graflow.core.task import TaskWrapper
from graflow.distributed.graph_store import GraphIntegrityError, GraphNotFoundError, GraphStore
from graflow.exceptions import ConfigError, GraflowError
from graflow.security.signing import (
    SIGNED_MAGIC,
    UNSIGNED_MAGIC,
    BadSignatureError,
    NullSigner,
    PayloadSigner,
)

SECRET = b"g" * 32


class Tripwire:
    """Unpickling it creates a file, so a test can tell whether a blob was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def make_graph(offset: int = 1) -> TaskGraph:
    graph = TaskGraph()
    first = TaskWrapper("first", lambda: offset, register_to_context=False)
    second = TaskWrapper("second", lambda: offset * 2, register_to_context=False)
    graph.add_node(first)
    graph.add_node(second)
    graph.add_edge("first", "second")
    return graph


@pytest.fixture(autouse=True)
def _no_secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFLOW_SECRET_KEY", raising=False)
    monkeypatch.delenv("GRAFLOW_INSECURE", raising=False)


@pytest.fixture
def decoding_client(redis_url: str) -> Iterator[Any]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def signed_store(redis_client: Any, key_prefix: str) -> GraphStore:
    return GraphStore(redis_client, key_prefix, signer=PayloadSigner(SECRET))


@pytest.fixture
def tripwire(tmp_path: Path) -> Path:
    return tmp_path / "unpickled.txt"


# Save / load -------------------------------------------------------------------------------------------------------
def test_save_returns_the_sha256_of_the_pickled_graph_and_stores_a_signed_compressed_blob(
    signed_store: GraphStore, redis_client: Any, key_prefix: str
) -> None:
    graph = make_graph()
    graph_hash = signed_store.save(graph)
    assert graph_hash == hashlib.sha256(serialization.dumps(graph)).hexdigest()
    blob = redis_client.get(f"{key_prefix}:graph:{graph_hash}")
    assert blob.startswith(SIGNED_MAGIC)
    payload = PayloadSigner(SECRET).verify(blob)
    assert hashlib.sha256(zlib.decompress(payload)).hexdigest() == graph_hash


def test_load_returns_an_equal_but_new_graph_each_time(signed_store: GraphStore) -> None:
    graph_hash = signed_store.save(make_graph(offset=7))
    first, second = signed_store.load(graph_hash), signed_store.load(graph_hash)
    assert first is not second
    assert first.get_edges() == [("first", "second")]
    assert first.get_node("second").func() == 14
    first.add_edge("second", "first")  # mutating one load does not leak into the next
    assert signed_store.load(graph_hash).get_edges() == [("first", "second")]


def test_a_fresh_store_loads_what_another_store_saved(redis_client: Any, key_prefix: str) -> None:
    graph_hash = GraphStore(redis_client, key_prefix, signer=PayloadSigner(SECRET)).save(make_graph(offset=3))
    worker_store = GraphStore(redis_client, key_prefix, signer=PayloadSigner(SECRET), cache_size=0)
    assert worker_store.load(graph_hash).get_node("first").func() == 3


def test_same_graph_is_stored_once(signed_store: GraphStore, redis_client: Any, key_prefix: str) -> None:
    assert signed_store.save(make_graph()) == signed_store.save(make_graph())
    assert len(list(redis_client.scan_iter(match=f"{key_prefix}:graph:*"))) == 1
    assert signed_store.save(make_graph(offset=2)) != signed_store.save(make_graph())


def test_graph_key_gets_the_configured_ttl(redis_client: Any, key_prefix: str) -> None:
    store = GraphStore(redis_client, key_prefix, ttl=1234, signer=PayloadSigner(SECRET))
    graph_hash = store.save(make_graph())
    assert 1230 <= redis_client.ttl(store.key(graph_hash)) <= 1234


def test_saving_again_refreshes_the_ttl(signed_store: GraphStore, redis_client: Any) -> None:
    graph_hash = signed_store.save(make_graph())
    redis_client.expire(signed_store.key(graph_hash), 5)
    signed_store.save(make_graph())
    assert redis_client.ttl(signed_store.key(graph_hash)) > 5


def test_loading_refreshes_the_ttl_while_a_run_uses_the_graph(signed_store: GraphStore, redis_client: Any) -> None:
    graph_hash = signed_store.save(make_graph())
    redis_client.expire(signed_store.key(graph_hash), 5)
    signed_store.load(graph_hash)
    assert redis_client.ttl(signed_store.key(graph_hash)) > 5
    redis_client.expire(signed_store.key(graph_hash), 5)
    assert signed_store.touch(graph_hash)
    assert redis_client.ttl(signed_store.key(graph_hash)) > 5


def test_save_rewrites_a_graph_that_expired_even_if_it_is_cached(signed_store: GraphStore, redis_client: Any) -> None:
    # given a graph saved (and cached locally) whose Redis copy has since expired
    graph_hash = signed_store.save(make_graph())
    redis_client.delete(signed_store.key(graph_hash))
    # when it is saved again, then workers can load it from Redis again
    signed_store.save(make_graph())
    assert redis_client.exists(signed_store.key(graph_hash))


def test_missing_graph_raises_graph_not_found_naming_hash_and_key(signed_store: GraphStore) -> None:
    missing = "0" * 64
    with pytest.raises(GraphNotFoundError) as info:
        signed_store.load(missing)
    assert isinstance(info.value, GraflowError)
    assert missing in str(info.value) and signed_store.key(missing) in str(info.value)
    assert info.value.graph_hash == missing


@pytest.mark.parametrize("bad", ["", "abc", "G" * 64, "0" * 63, "../" + "0" * 61])
def test_malformed_hash_is_not_found(signed_store: GraphStore, bad: str) -> None:
    with pytest.raises(GraphNotFoundError, match="sha256"):
        signed_store.load(bad)


def test_cache_serves_loads_without_redis_and_evicts_least_recently_used(redis_client: Any, key_prefix: str) -> None:
    store = GraphStore(redis_client, key_prefix, cache_size=2, signer=PayloadSigner(SECRET))
    hashes = [store.save(make_graph(offset=i)) for i in range(3)]  # the first one is evicted by the third
    for graph_hash in hashes:
        redis_client.delete(store.key(graph_hash))
    with pytest.raises(GraphNotFoundError):
        store.load(hashes[0])
    assert store.load(hashes[1]).get_node("first").func() == 1
    assert store.load(hashes[2]).get_node("first").func() == 2


def test_disabled_cache_always_reads_redis(redis_client: Any, key_prefix: str) -> None:
    store = GraphStore(redis_client, key_prefix, cache_size=0, signer=PayloadSigner(SECRET))
    graph_hash = store.save(make_graph())
    store.delete(graph_hash)
    with pytest.raises(GraphNotFoundError):
        store.load(graph_hash)


# redis-py clients with decode_responses=True (D21) ----------------------------------------------------------------
def test_store_works_with_a_decoding_client(decoding_client: Any, key_prefix: str) -> None:
    store = GraphStore(decoding_client, key_prefix, cache_size=0, signer=PayloadSigner(SECRET))
    graph_hash = store.save(make_graph(offset=5))
    assert store.load(graph_hash).get_node("second").func() == 10
    assert store.redis is decoding_client  # workers reuse the client the store was given


def test_graphs_cross_between_bytes_and_decoding_clients(
    redis_client: Any, decoding_client: Any, key_prefix: str
) -> None:
    saved_by_bytes = GraphStore(redis_client, key_prefix, signer=PayloadSigner(SECRET)).save(make_graph(offset=4))
    reader = GraphStore(decoding_client, key_prefix, cache_size=0, signer=PayloadSigner(SECRET))
    assert reader.load(saved_by_bytes).get_node("first").func() == 4
    saved_by_decoding = reader.save(make_graph(offset=6))
    writer = GraphStore(redis_client, key_prefix, cache_size=0, signer=PayloadSigner(SECRET))
    assert writer.load(saved_by_decoding).get_node("first").func() == 6


# Signing (D20) -------------------------------------------------------------------------------------------------------
def test_without_a_secret_a_loopback_store_writes_unsigned_frames(redis_client: Any, key_prefix: str) -> None:
    store = GraphStore(redis_client, key_prefix)
    assert isinstance(store.signer, NullSigner)
    graph_hash = store.save(make_graph())
    assert redis_client.get(store.key(graph_hash)).startswith(UNSIGNED_MAGIC)
    assert GraphStore(redis_client, key_prefix, cache_size=0).load(graph_hash).get_edges() == [("first", "second")]


def test_secret_from_the_environment_signs_graphs(
    redis_client: Any, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", SECRET.decode())
    store = GraphStore(redis_client, key_prefix)
    graph_hash = store.save(make_graph())
    assert redis_client.get(store.key(graph_hash)).startswith(SIGNED_MAGIC)


def test_a_remote_redis_without_a_secret_is_refused() -> None:
    # a client is built but never connects: the check reads its parameters only
    remote = redis.Redis(host="redis.invalid", port=6379)
    with pytest.raises(ConfigError, match="GRAFLOW_SECRET_KEY"):
        GraphStore(remote, "p")


def test_a_remote_redis_is_accepted_with_a_secret_or_an_explicit_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    remote = redis.Redis(host="redis.invalid", port=6379)
    GraphStore(remote, "p", signer=PayloadSigner(SECRET))
    monkeypatch.setenv("GRAFLOW_INSECURE", "1")
    assert isinstance(GraphStore(remote, "p").signer, NullSigner)


def _forge(kind: str, tripwire: Path) -> bytes:
    evil = zlib.compress(serialization.dumps(Tripwire(tripwire)), 6)
    signed = PayloadSigner(SECRET).sign(evil)
    return {
        "bad_signature": SIGNED_MAGIC + b"\x01" * 32 + evil,
        "other_secret": PayloadSigner(b"o" * 32).sign(evil),
        "unsigned": NullSigner().sign(evil),
        "truncated": signed[:30],
        "raw_pickle": serialization.dumps(Tripwire(tripwire)),
        "garbage": b"\x00\xffnot a graph",
    }[kind]


@pytest.mark.parametrize("kind", ["bad_signature", "other_secret", "unsigned", "truncated", "raw_pickle", "garbage"])
def test_forged_blobs_are_rejected_before_unpickling(
    signed_store: GraphStore, redis_client: Any, tripwire: Path, kind: str
) -> None:
    # given an attacker who can write to Redis but does not know the secret
    graph_hash = hashlib.sha256(kind.encode()).hexdigest()
    redis_client.set(signed_store.key(graph_hash), _forge(kind, tripwire))
    # when a worker loads the graph, then it is refused and nothing was unpickled
    with pytest.raises(BadSignatureError):
        signed_store.load(graph_hash)
    assert not tripwire.exists()


def test_a_tampered_byte_in_a_stored_graph_is_rejected(signed_store: GraphStore, redis_client: Any) -> None:
    graph_hash = signed_store.save(make_graph())
    key = signed_store.key(graph_hash)
    blob = bytearray(redis_client.get(key))
    blob[-1] ^= 0xFF
    redis_client.set(key, bytes(blob))
    signed_store.clear_cache()
    with pytest.raises(BadSignatureError) as info:
        signed_store.load(graph_hash)
    assert info.value.reason == "bad_signature"


def test_a_validly_signed_blob_under_the_wrong_hash_is_never_unpickled(
    signed_store: GraphStore, redis_client: Any, tripwire: Path
) -> None:
    # given a correctly signed blob stored under a hash that is not its own content's
    evil = zlib.compress(serialization.dumps(Tripwire(tripwire)), 6)
    claimed = signed_store.save(make_graph())
    redis_client.set(signed_store.key(claimed), PayloadSigner(SECRET).sign(evil))
    signed_store.clear_cache()
    # then the content hash check refuses it before unpickling
    with pytest.raises(GraphIntegrityError, match="hashes to"):
        signed_store.load(claimed)
    assert not tripwire.exists()


def test_a_signed_blob_that_is_not_zlib_is_an_integrity_error(
    signed_store: GraphStore, redis_client: Any, key_prefix: str
) -> None:
    graph_hash = "1" * 64
    redis_client.set(signed_store.key(graph_hash), PayloadSigner(SECRET).sign(b"not zlib"))
    with pytest.raises(GraphIntegrityError, match="decompress"):
        signed_store.load(graph_hash)


def test_the_tripwire_fires_when_its_blob_is_genuinely_signed(
    signed_store: GraphStore, redis_client: Any, tripwire: Path
) -> None:
    # the control for the rejection tests above: a blob that passes every check is unpickled
    data = serialization.dumps(Tripwire(tripwire))
    graph_hash = hashlib.sha256(data).hexdigest()
    redis_client.set(signed_store.key(graph_hash), PayloadSigner(SECRET).sign(zlib.compress(data, 6)))
    signed_store.load(graph_hash)
    assert tripwire.exists()
