"""Whether a Redis connection may carry unsigned payloads (D20).

Unsigned pickles are only as safe as the least trusted writer of the Redis they cross. On loopback (127.0.0.0/8,
``::1``, ``localhost`` or a unix socket) that is this machine, so local development needs no secret. Anywhere else
a distributed run needs ``GRAFLOW_SECRET_KEY``, or an explicit ``GRAFLOW_INSECURE=1``.

Host names other than ``localhost`` are never resolved: a name that happens to resolve to loopback today is still
treated as remote, which errs on the safe side and keeps this check free of network calls. Standard library only;
a Redis client is inspected by duck typing (``client.connection_pool.connection_kwargs``).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any
from urllib.parse import urlsplit

from graflow import config
from graflow.exceptions import ConfigError
from graflow.security.redaction import redact

logger = logging.getLogger(__name__)

_UNIX_SCHEMES = frozenset({"unix", "redis+unix", "redis+socket"})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` (a name or an IP literal) is this machine's loopback interface."""
    if not host:
        return False
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def describe_endpoint(redis_client_or_url: Any) -> tuple[str, bool]:
    """``(description, is_loopback)`` of a Redis URL or client; the description never contains a password."""
    if isinstance(redis_client_or_url, bytes):
        redis_client_or_url = redis_client_or_url.decode("utf-8", "replace")
    if isinstance(redis_client_or_url, str):
        parts = urlsplit(redis_client_or_url)
        if parts.scheme in _UNIX_SCHEMES:
            return f"unix socket {parts.path}", True
        return f"{parts.hostname}:{parts.port or 6379}", is_loopback_host(parts.hostname)
    pool = getattr(redis_client_or_url, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if not isinstance(kwargs, dict):
        # Cluster or sentinel clients, or something else: nothing proves it is local, so it is treated as remote.
        return f"{type(redis_client_or_url).__name__} (address unknown)", False
    if kwargs.get("path"):
        return f"unix socket {kwargs['path']}", True
    host = kwargs.get("host", "localhost")
    return f"{host}:{kwargs.get('port', 6379)}", is_loopback_host(str(host))


def is_loopback(redis_client_or_url: Any) -> bool:
    """Whether a Redis URL or client talks to this machine only."""
    return describe_endpoint(redis_client_or_url)[1]


def ensure_transport_allowed(redis_client_or_url: Any, signer: Any) -> None:
    """Refuse unsigned payloads on a Redis that is not on this machine.

    Args:
        redis_client_or_url: A redis-py client or a ``redis://``/``rediss://``/``unix://`` URL.
        signer: The signer that will frame payloads; None or a signer whose ``secure`` is false means unsigned.

    Raises:
        ConfigError: No secure signer, a non-loopback Redis, and ``GRAFLOW_INSECURE`` is not set.
    """
    if signer is not None and getattr(signer, "secure", False):
        return
    where, local = describe_endpoint(redis_client_or_url)
    if local:
        return
    if config.insecure_allowed():
        logger.warning(
            "Sending unsigned payloads to Redis at %s because GRAFLOW_INSECURE is set: anyone who can write to "
            "this Redis can run code in every worker",
            redact(where),
        )
        return
    raise ConfigError(
        f"Refusing to send unsigned payloads to Redis at {redact(where)}, which is not a loopback address: anyone "
        "who can write to it could run code in the workers. Set GRAFLOW_SECRET_KEY to the same random secret of at "
        'least 32 bytes in every producer and worker (python -c "import secrets; print(secrets.token_hex(32))"), '
        "or set GRAFLOW_INSECURE=1 to accept the risk."
    )


__all__ = ["describe_endpoint", "ensure_transport_allowed", "is_loopback", "is_loopback_host"]
