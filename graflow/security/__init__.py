"""Payload signing, transport checks and redaction. Standard library only.

* :mod:`graflow.security.signing`: HMAC-SHA256 payload frames; nothing is unpickled unless it is signed (D20).
* :mod:`graflow.security.transport`: refuses unsigned payloads on a Redis that is not on this machine.
* :mod:`graflow.security.redaction`: masks credentials in text and mappings.
"""

from __future__ import annotations

from graflow.security.redaction import redact, redact_mapping
from graflow.security.signing import (
    BadSignatureError,
    NullSigner,
    PayloadSigner,
    Signer,
    dumps_signed,
    loads_verified,
)
from graflow.security.transport import ensure_transport_allowed, is_loopback

__all__ = [
    "BadSignatureError",
    "NullSigner",
    "PayloadSigner",
    "Signer",
    "dumps_signed",
    "ensure_transport_allowed",
    "is_loopback",
    "loads_verified",
    "redact",
    "redact_mapping",
]
