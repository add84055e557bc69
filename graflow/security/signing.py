"""Signed payload frames: nothing is unpickled unless it is signed (D20).

Every payload that crosses Redis travels in a small frame::

    signed:    b"GFS1" + HMAC-SHA256(secret, b"GFS1" + payload) (32 bytes) + payload
    unsigned:  b"GFU1" + payload

The four-byte magic names the frame kind and its version, so a reader tells a signed payload, an explicitly
unsigned one (insecure mode) and foreign bytes (for example a raw pickle written by an older version) apart before
it touches the payload. The tag covers the magic too, so a frame cannot be relabelled.

:class:`PayloadSigner` signs with a secret of at least ``MIN_SECRET_BYTES`` bytes and accepts only signed frames.
:class:`NullSigner` is the explicit insecure mode: it writes unsigned frames and accepts only those. It rejects a
signed frame, because it cannot check the tag: a process without the secret must not run what a process with the
secret produced as if it had been verified (set the same ``GRAFLOW_SECRET_KEY`` everywhere instead).

Standard library only: what serializes a payload is the caller's choice (:func:`dumps_signed`).
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from collections.abc import Callable
from typing import Any, Final, Literal, NoReturn, Protocol, runtime_checkable

from graflow import config
from graflow.defaults import MIN_SECRET_BYTES
from graflow.exceptions import ConfigError, GraflowError

SIGNED_MAGIC: Final = b"GFS1"
UNSIGNED_MAGIC: Final = b"GFU1"
MAGIC_SIZE: Final = 4
TAG_SIZE: Final = hashlib.sha256().digest_size
SIGNED_HEADER_SIZE: Final = MAGIC_SIZE + TAG_SIZE

Reason = Literal["bad_signature", "truncated", "unsigned", "bad_magic"]

_REASON_TEXT: Final[dict[str, str]] = {
    "bad_signature": "the signature does not match the payload",
    "truncated": "the frame is shorter than its header",
    "unsigned": "the payload is not signed",
    "bad_magic": "the bytes are not a Graflow payload frame",
}


class BadSignatureError(GraflowError):
    """A payload frame was rejected before its payload was used.

    Attributes:
        reason: One of ``"bad_signature"``, ``"truncated"``, ``"unsigned"``, ``"bad_magic"``.
        detail: Extra context for the message (never the payload itself).
    """

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason: Reason = reason
        self.detail = detail
        text = f"Rejected payload ({reason}): {_REASON_TEXT[reason]}"
        super().__init__(f"{text}; {detail}" if detail else text)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.detail))


@runtime_checkable
class Signer(Protocol):
    """What every signer offers. ``secure`` tells whether frames carry a verifiable signature."""

    @property
    def secure(self) -> bool:
        """True when :meth:`verify` checks an HMAC tag."""
        ...

    def sign(self, payload: bytes) -> bytes:
        """Frame ``payload``."""
        ...

    def verify(self, blob: bytes) -> bytes:
        """Return the payload of a frame this signer accepts, or raise :class:`BadSignatureError`."""
        ...


def _classify_foreign(blob: bytes) -> NoReturn:
    """Raise the right rejection for a blob that does not start with the magic its reader expects."""
    if len(blob) < MAGIC_SIZE and (SIGNED_MAGIC.startswith(blob) or UNSIGNED_MAGIC.startswith(blob)):
        raise BadSignatureError("truncated", f"got {len(blob)} bytes")
    head = blob[:MAGIC_SIZE]
    if head == UNSIGNED_MAGIC:
        raise BadSignatureError("unsigned", "a signing secret is configured, so unsigned frames are refused")
    if head == SIGNED_MAGIC:
        raise BadSignatureError(
            "bad_signature",
            "the frame is signed but this process has no secret to check it; set the same GRAFLOW_SECRET_KEY in "
            "every producer and worker",
        )
    if head[:3] in (SIGNED_MAGIC[:3], UNSIGNED_MAGIC[:3]):
        raise BadSignatureError("bad_magic", f"unknown frame version {head[3:4]!r}")
    raise BadSignatureError("bad_magic", f"it starts with {head!r}")


class PayloadSigner:
    """Signs and verifies payload frames with HMAC-SHA256.

    Args:
        secret: At least ``graflow.defaults.MIN_SECRET_BYTES`` (32) bytes; a ``str`` is UTF-8 encoded.

    Raises:
        ConfigError: The secret is empty or too short.

    The secret is never shown by ``repr`` and the signer refuses to be pickled, so it cannot leak into a
    checkpoint or a task record.
    """

    secure: Final = True

    def __init__(self, secret: bytes | str) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(key) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"The signing secret is {len(key)} bytes long; at least {MIN_SECRET_BYTES} bytes are required. "
                'Generate one with: python -c "import secrets; print(secrets.token_hex(32))" and set it as '
                "GRAFLOW_SECRET_KEY"
            )
        # A keyed HMAC object is copied per message: cheaper than re-deriving the inner and outer pads each time.
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    @classmethod
    def from_env(cls) -> PayloadSigner | None:
        """The signer for ``GRAFLOW_SECRET_KEY``, or None when the variable is unset or empty.

        Raises:
            ConfigError: The variable is set but shorter than the minimum length.
        """
        key = config.secret_key()
        return cls(key) if key else None

    def _tag(self, payload: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(SIGNED_MAGIC)
        mac.update(payload)
        return mac.digest()

    def sign(self, payload: bytes) -> bytes:
        """Return the signed frame of ``payload``."""
        return SIGNED_MAGIC + self._tag(payload) + payload

    def verify(self, blob: bytes) -> bytes:
        """Return the payload of a signed frame.

        Raises:
            BadSignatureError: ``truncated``, ``unsigned``, ``bad_magic`` or ``bad_signature``.
        """
        if not blob.startswith(SIGNED_MAGIC):
            _classify_foreign(blob)
        if len(blob) < SIGNED_HEADER_SIZE:
            raise BadSignatureError("truncated", f"got {len(blob)} bytes, the header alone is {SIGNED_HEADER_SIZE}")
        view = memoryview(blob)
        tag = bytes(view[MAGIC_SIZE:SIGNED_HEADER_SIZE])
        payload = bytes(view[SIGNED_HEADER_SIZE:])
        if not hmac.compare_digest(tag, self._tag(payload)):
            raise BadSignatureError("bad_signature")
        return payload

    def __repr__(self) -> str:
        return "PayloadSigner(secret=***)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("PayloadSigner holds a secret and cannot be pickled; rebuild it with PayloadSigner.from_env()")


class NullSigner:
    """The explicit insecure mode: frames carry no signature.

    ``verify`` accepts only unsigned frames and rejects signed ones (reason ``bad_signature``), because it cannot
    check them. Use it only where every writer is trusted: a loopback Redis, or ``GRAFLOW_INSECURE=1``.
    """

    secure: Final = False

    def sign(self, payload: bytes) -> bytes:
        """Return the unsigned frame of ``payload``."""
        return UNSIGNED_MAGIC + payload

    def verify(self, blob: bytes) -> bytes:
        """Return the payload of an unsigned frame.

        Raises:
            BadSignatureError: ``truncated``, ``bad_magic``, or ``bad_signature`` for a signed frame.
        """
        if not blob.startswith(UNSIGNED_MAGIC):
            _classify_foreign(blob)
        return blob[MAGIC_SIZE:]

    def __repr__(self) -> str:
        return "NullSigner()"


def _pickle_dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def dumps_signed(obj: Any, signer: Signer, dumps: Callable[[Any], bytes] = _pickle_dumps) -> bytes:
    """Serialize ``obj`` with ``dumps`` and frame it with ``signer``.

    Args:
        obj: What to send.
        signer: Frames the bytes.
        dumps: The serializer. The default is the standard library's pickle, which refuses lambdas and closures;
            the engine passes ``graflow.core.serialization.dumps`` (cloudpickle), which takes them.
    """
    return signer.sign(dumps(obj))


def loads_verified(blob: bytes, signer: Signer, loads: Callable[[bytes], Any] = pickle.loads) -> Any:
    """Verify ``blob`` with ``signer`` and only then deserialize its payload with ``loads``.

    Args:
        blob: A frame made by :func:`dumps_signed`.
        signer: Checks the frame.
        loads: The deserializer (default: ``pickle.loads``, which also reads what cloudpickle wrote).

    Raises:
        BadSignatureError: The frame was rejected; nothing was deserialized.
    """
    return loads(signer.verify(blob))


__all__ = [
    "MAGIC_SIZE",
    "SIGNED_HEADER_SIZE",
    "SIGNED_MAGIC",
    "TAG_SIZE",
    "UNSIGNED_MAGIC",
    "BadSignatureError",
    "NullSigner",
    "PayloadSigner",
    "Reason",
    "Signer",
    "dumps_signed",
    "loads_verified",
]
