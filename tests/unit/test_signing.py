"""Signed payload frames (D20): what is accepted, what is rejected, and that nothing is unpickled before that."""

from __future__ import annotations

import hmac
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graflow.core import serialization
from graflow.exceptions import ConfigError, GraflowError
from graflow.security import signing
from graflow.security.signing import (
    SIGNED_HEADER_SIZE,
    SIGNED_MAGIC,
    UNSIGNED_MAGIC,
    BadSignatureError,
    NullSigner,
    PayloadSigner,
    Signer,
    dumps_signed,
    loads_verified,
)
from graflow.security.transport import describe_endpoint, ensure_transport_allowed, is_loopback, is_loopback_host

SECRET = b"k" * 32
OTHER_SECRET = b"z" * 32


class Tripwire:
    """Unpickling it creates a file: the visible side effect that proves a payload was (or was not) unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


@pytest.fixture
def tripwire(tmp_path: Path) -> Path:
    return tmp_path / "unpickled.txt"


@pytest.fixture(autouse=True)
def _no_secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFLOW_SECRET_KEY", raising=False)
    monkeypatch.delenv("GRAFLOW_INSECURE", raising=False)


# Secrets ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("secret", [b"", b"short", "x" * 31, b"\x00" * 31])
def test_secret_shorter_than_32_bytes_is_refused_with_a_clear_error(secret: bytes | str) -> None:
    with pytest.raises(ConfigError, match=r"at least 32 bytes.*GRAFLOW_SECRET_KEY"):
        PayloadSigner(secret)


def test_secret_length_counts_utf8_bytes_not_characters() -> None:
    # given 11 three-byte characters: 33 bytes although only 11 characters
    PayloadSigner("✓" * 11)
    with pytest.raises(ConfigError):
        PayloadSigner("✓" * 10)


def test_str_and_bytes_secrets_sign_alike() -> None:
    assert PayloadSigner("k" * 32).sign(b"x") == PayloadSigner(SECRET).sign(b"x")


def test_from_env_is_none_without_a_secret() -> None:
    assert PayloadSigner.from_env() is None


def test_from_env_reads_graflow_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", "k" * 32)
    signer = PayloadSigner.from_env()
    assert signer is not None
    assert signer.verify(PayloadSigner(SECRET).sign(b"payload")) == b"payload"


def test_from_env_refuses_a_short_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", "too-short")
    with pytest.raises(ConfigError, match="GRAFLOW_SECRET_KEY"):
        PayloadSigner.from_env()


def test_signer_never_shows_or_pickles_its_secret() -> None:
    signer = PayloadSigner("s3cr3t-" * 5)
    assert "s3cr3t" not in repr(signer)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(signer)


# Frames --------------------------------------------------------------------------------------------------------------
@given(payload=st.binary(max_size=2048))
def test_signed_frames_round_trip(payload: bytes) -> None:
    signer = PayloadSigner(SECRET)
    blob = signer.sign(payload)
    assert blob.startswith(SIGNED_MAGIC)
    assert len(blob) == SIGNED_HEADER_SIZE + len(payload)
    assert signer.verify(blob) == payload


@given(payload=st.binary(max_size=256), data=st.data())
def test_any_single_bit_flip_is_rejected(payload: bytes, data: st.DataObject) -> None:
    signer = PayloadSigner(SECRET)
    blob = bytearray(signer.sign(payload))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(BadSignatureError):
        signer.verify(bytes(blob))


def test_tampered_payload_is_rejected_as_bad_signature() -> None:
    signer = PayloadSigner(SECRET)
    blob = signer.sign(b"amount=10")
    with pytest.raises(BadSignatureError) as info:
        signer.verify(blob[:-2] + b"99")
    assert info.value.reason == "bad_signature"


def test_frame_signed_with_another_secret_is_rejected() -> None:
    blob = PayloadSigner(OTHER_SECRET).sign(b"payload")
    with pytest.raises(BadSignatureError) as info:
        PayloadSigner(SECRET).verify(blob)
    assert info.value.reason == "bad_signature"


@pytest.mark.parametrize("cut", [0, 1, 3, 4, 20, SIGNED_HEADER_SIZE - 1])
def test_truncated_frames_are_rejected_as_truncated(cut: int) -> None:
    blob = PayloadSigner(SECRET).sign(b"payload")
    with pytest.raises(BadSignatureError) as info:
        PayloadSigner(SECRET).verify(blob[:cut])
    assert info.value.reason == "truncated"


def test_frame_cut_inside_the_payload_is_a_bad_signature() -> None:
    blob = PayloadSigner(SECRET).sign(b"payload")
    with pytest.raises(BadSignatureError) as info:
        PayloadSigner(SECRET).verify(blob[:-1])
    assert info.value.reason == "bad_signature"


def test_unsigned_frame_is_refused_when_a_secret_is_configured() -> None:
    with pytest.raises(BadSignatureError) as info:
        PayloadSigner(SECRET).verify(NullSigner().sign(b"payload"))
    assert info.value.reason == "unsigned"


@pytest.mark.parametrize(
    "blob",
    [pickle.dumps({"a": 1}), b'{"json": true}', b"GFS9" + b"\x00" * 40, b"GFX1payload", b"hello world"],
    ids=["raw-pickle", "json", "unknown-version", "unknown-kind", "text"],
)
def test_foreign_bytes_are_rejected_as_bad_magic(blob: bytes) -> None:
    for signer in (PayloadSigner(SECRET), NullSigner()):
        with pytest.raises(BadSignatureError) as info:
            signer.verify(blob)
        assert info.value.reason == "bad_magic"


def test_null_signer_round_trips_unsigned_frames() -> None:
    signer = NullSigner()
    blob = signer.sign(b"payload")
    assert blob == UNSIGNED_MAGIC + b"payload"
    assert signer.verify(blob) == b"payload"
    assert signer.secure is False and PayloadSigner(SECRET).secure is True


def test_null_signer_refuses_signed_frames_it_cannot_check() -> None:
    with pytest.raises(BadSignatureError, match="GRAFLOW_SECRET_KEY") as info:
        NullSigner().verify(PayloadSigner(SECRET).sign(b"payload"))
    assert info.value.reason == "bad_signature"


def test_both_signers_satisfy_the_signer_protocol() -> None:
    assert isinstance(PayloadSigner(SECRET), Signer)
    assert isinstance(NullSigner(), Signer)


def test_verification_compares_tags_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    signer = PayloadSigner(SECRET)
    signer.verify(signer.sign(b"payload"))
    assert len(calls) == 1


def test_bad_signature_error_is_a_graflow_error_that_pickles_with_its_reason() -> None:
    error = BadSignatureError("truncated", "got 3 bytes")
    assert isinstance(error, GraflowError)
    restored = pickle.loads(pickle.dumps(error))
    assert restored.reason == "truncated"
    assert "truncated" in str(restored) and "got 3 bytes" in str(restored)


# Nothing is unpickled before it is verified ----------------------------------------------------------------------
def test_correctly_signed_tripwire_does_fire(tripwire: Path) -> None:
    # the control: proves the tripwire payload has a visible effect when it *is* unpickled
    signer = PayloadSigner(SECRET)
    loads_verified(dumps_signed(Tripwire(tripwire), signer), signer)
    assert tripwire.exists()


def _forgeries(tripwire: Path) -> dict[str, bytes]:
    evil = serialization.dumps(Tripwire(tripwire))
    signed = PayloadSigner(SECRET).sign(evil)
    return {
        "bad_signature": SIGNED_MAGIC + b"\x00" * 32 + evil,
        "wrong_secret": PayloadSigner(OTHER_SECRET).sign(evil),
        "truncated": signed[:20],
        "unsigned": NullSigner().sign(evil),
        "raw_pickle": evil,
        "garbage": b"\x80\x05garbage",
        "flipped": signed[:-1] + bytes([signed[-1] ^ 1]),
    }


@pytest.mark.parametrize(
    "kind", ["bad_signature", "wrong_secret", "truncated", "unsigned", "raw_pickle", "garbage", "flipped"]
)
def test_forged_payloads_are_rejected_before_unpickling(tripwire: Path, kind: str) -> None:
    blob = _forgeries(tripwire)[kind]
    with pytest.raises(BadSignatureError):
        loads_verified(blob, PayloadSigner(SECRET))
    assert not tripwire.exists(), f"{kind} payload was unpickled"


def test_null_signer_never_unpickles_a_signed_or_raw_payload(tripwire: Path) -> None:
    forged = _forgeries(tripwire)
    for kind in ("wrong_secret", "raw_pickle", "truncated", "garbage"):
        with pytest.raises(BadSignatureError):
            loads_verified(forged[kind], NullSigner())
    assert not tripwire.exists()


def test_dumps_signed_round_trips_closures() -> None:
    offset = 5
    signer = PayloadSigner(SECRET)
    func = loads_verified(dumps_signed(lambda x: x + offset, signer, serialization.dumps), signer)
    assert func(1) == 6


# Transport (loopback or secret, else refuse) -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1", "ip6-localhost"],
)
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", ["10.0.0.5", "192.168.1.2", "0.0.0.0", "redis.internal", "localhost.example.com", "::", "", None]
)
def test_other_hosts_are_remote(host: str | None) -> None:
    assert not is_loopback_host(host)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("redis://localhost:6379/0", True),
        ("redis://:pw@127.0.0.1/1", True),
        ("rediss://[::1]:6380", True),
        ("unix:///tmp/redis.sock?db=2", True),
        ("redis://redis.prod:6379/0", False),
        ("rediss://user:pw@10.1.2.3:6380/0", False),
    ],
)
def test_urls_are_classified_without_resolving_names(url: str, local: bool) -> None:
    assert is_loopback(url) is local


class _FakePool:
    def __init__(self, **kwargs: Any) -> None:
        self.connection_kwargs = kwargs


class _FakeClient:
    def __init__(self, **kwargs: Any) -> None:
        self.connection_pool = _FakePool(**kwargs)


def test_clients_are_classified_by_their_pool_parameters() -> None:
    assert is_loopback(_FakeClient(host="127.0.0.1", port=6379))
    assert is_loopback(_FakeClient(path="/run/redis.sock"))
    assert not is_loopback(_FakeClient(host="cache.internal", port=6379))
    assert not is_loopback(object())  # unknown client type: treated as remote


def test_unsigned_transport_to_loopback_is_allowed() -> None:
    ensure_transport_allowed("redis://127.0.0.1:6379/0", None)
    ensure_transport_allowed(_FakeClient(host="localhost"), NullSigner())


def test_unsigned_transport_to_a_remote_redis_is_refused_with_instructions() -> None:
    with pytest.raises(ConfigError) as info:
        ensure_transport_allowed("redis://:hunter2@redis.prod:6379/0", None)
    message = str(info.value)
    assert "GRAFLOW_SECRET_KEY" in message and "GRAFLOW_INSECURE=1" in message
    assert "redis.prod" in message and "hunter2" not in message
    with pytest.raises(ConfigError):
        ensure_transport_allowed(_FakeClient(host="10.0.0.5"), NullSigner())


def test_signed_transport_to_a_remote_redis_is_allowed() -> None:
    ensure_transport_allowed("redis://redis.prod:6379/0", PayloadSigner(SECRET))


def test_insecure_opt_in_allows_unsigned_remote_transport_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GRAFLOW_INSECURE", "1")
    with caplog.at_level("WARNING"):
        ensure_transport_allowed("redis://redis.prod:6379/0", None)
    assert "GRAFLOW_INSECURE" in caplog.text


def test_endpoint_description_hides_credentials() -> None:
    where, local = describe_endpoint("redis://user:pw@redis.prod:6380/0")
    assert where == "redis.prod:6380" and not local
