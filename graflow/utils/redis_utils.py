"""Redis clients from configs and URLs, one connection pool per endpoint per process (D21).

The upstream helpers (``extract_redis_config``, ``create_redis_client``, ``ensure_redis_connection_params``) keep
their names and meaning. Every client made here shares a process-wide pool per (URL or connection parameters,
options): many channels, queues and stores on one Redis cost one pool, not one per object.

Pools are keyed by process id and dropped in a forked child, so a child never reuses its parent's sockets.
Passwords, ACL users (``username``) and TLS (``rediss://`` or ``ssl=True`` with ``ssl_*`` options) are supported.
Only redis-py APIs that are stable from 5.x to 8.x are used: ``ConnectionPool.from_url``, ``Redis(**kwargs)``,
``Redis(connection_pool=...)``, and the pool's ``connection_class`` / ``connection_kwargs``.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit

import redis

from graflow.exceptions import ConfigError
from graflow.security.redaction import redact

# Connection parameters that describe *where and how* to connect and are plain picklable values. Pool internals that
# differ between redis-py versions (retry objects, event dispatchers, maintenance handlers ...) are left out.
_PLAIN_PARAMS = (
    "host",
    "port",
    "db",
    "username",
    "password",
    "socket_timeout",
    "socket_connect_timeout",
    "socket_keepalive",
    "retry_on_timeout",
    "health_check_interval",
    "client_name",
    "encoding",
    "encoding_errors",
    "decode_responses",
    "protocol",
)
# Parameters a client copy may share by reference with the pool it copies (same process only).
_SHARED_PARAMS = (*_PLAIN_PARAMS, "credential_provider", "retry", "retry_on_error", "socket_keepalive_options")
_SSL_PREFIX = "ssl_"
_PLAIN_TYPES = (str, int, float, bool, type(None))

# Keys of a Graflow redis config that create_redis_client passes on to redis-py.
_CLIENT_KEYS = frozenset(
    {
        *_PLAIN_PARAMS,
        "unix_socket_path",
        "ssl",
        "max_connections",
        "retry",
        "retry_on_error",
        "credential_provider",
        "socket_keepalive_options",
    }
)

_URL_OWNED = frozenset({"ssl", "unix_socket_path", "host", "port"})

#: URL schemes redis-py connects with.
REDIS_URL_SCHEMES = ("redis://", "rediss://", "unix://")


class RedisURLError(ConfigError, ValueError):
    """A Redis URL that cannot be used. Also a ``ValueError``, which redis-py raises for the same URLs.

    Attributes:
        url: The URL as given, with any password masked.
        reason: What is wrong with it.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = redact(url)
        self.reason = reason
        schemes = ", ".join(REDIS_URL_SCHEMES)
        super().__init__(
            f"invalid Redis URL {self.url!r}: {reason}; accepted schemes: {schemes} (e.g. redis://localhost:6379/0)"
        )


def validate_redis_url(url: str) -> str:
    """Check that ``url`` is a Redis URL redis-py can connect with, and return it unchanged.

    The scheme must be one of :data:`REDIS_URL_SCHEMES` (case-insensitive), and a ``redis://`` or ``rediss://``
    URL must have a numeric port in range, if any, and a numeric database number, if any (redis-py would
    otherwise ignore a path such as ``/abc`` and silently use database 0).

    Raises:
        RedisURLError: The URL is malformed; the message names it (password masked) and the accepted schemes.
    """
    if not isinstance(url, str) or not url.strip():
        raise RedisURLError(str(url or ""), "the URL is empty")
    if not url.lower().startswith(REDIS_URL_SCHEMES):
        scheme, sep, _rest = url.partition("://")
        reason = f"unknown scheme {scheme + sep!r}" if sep else "no scheme"
        raise RedisURLError(url, reason)
    parts = urlsplit(url)
    if parts.scheme.lower() == "unix":
        if not parts.path:
            raise RedisURLError(url, "no socket path")
        return url
    try:
        parts.port  # noqa: B018 - urllib validates the port when it is read
    except ValueError:
        raise RedisURLError(url, "the port is not a number from 0 to 65535") from None
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise RedisURLError(url, f"the database {db!r} is not a number")
    return url


def safe_redis_url(client_or_url: Any) -> str:
    """A URL of the Redis behind a client (or given as a URL), without its password: fit for logs and messages.

    A client's URL is rebuilt from its connection parameters: ``redis://[user@]host:port/db``, ``rediss://...``
    for TLS, or ``unix://path?db=N``. A client whose address cannot be read is named by its type.
    """
    if isinstance(client_or_url, bytes):
        client_or_url = client_or_url.decode("utf-8", "replace")
    if isinstance(client_or_url, str):
        parts = urlsplit(client_or_url)
        if parts.password is None:
            return client_or_url
        host = parts.netloc.rpartition("@")[2]
        user = f"{parts.username}@" if parts.username else ""
        return parts._replace(netloc=f"{user}{host}").geturl()
    pool = getattr(client_or_url, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if not isinstance(kwargs, dict):
        return f"{type(client_or_url).__name__} (address unknown)"
    db = kwargs.get("db", 0)
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}?db={db}"
    scheme = "rediss" if _is_ssl_pool(pool) else "redis"
    user = f"{kwargs['username']}@" if kwargs.get("username") else ""
    host = str(kwargs.get("host", "localhost"))
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{user}{host}:{kwargs.get('port', 6379)}/{db}"


_lock = threading.Lock()
_pools: dict[tuple[Any, ...], tuple[redis.ConnectionPool, redis.Redis | None]] = {}
_pools_pid = os.getpid()


def _reset_after_fork() -> None:
    # The parent's lock may have been held by another thread at fork time, and its sockets belong to the parent.
    global _lock, _pools, _pools_pid
    _lock = threading.Lock()
    _pools = {}
    _pools_pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _freeze(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return ("<unhashable>", repr(value))
    return value


def _options_key(options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, _freeze(v)) for k, v in options.items()))


def _cached_pool(key: tuple[Any, ...], make: Any) -> redis.ConnectionPool:
    global _pools, _pools_pid
    pid = os.getpid()
    with _lock:
        if pid != _pools_pid:  # forked without register_at_fork: start afresh
            _pools, _pools_pid = {}, pid
        entry = _pools.get(key)
        if entry is None:
            entry = make()
            _pools[key] = entry
        return entry[0]


def get_redis_pool(url: str, **opts: Any) -> redis.ConnectionPool:
    """The process-wide connection pool for ``url`` and ``opts`` (created on first use).

    Args:
        url: ``redis://[[user]:[password]@]host[:port][/db]``, ``rediss://...`` (TLS) or ``unix:///path?db=N``.
        **opts: Extra ``ConnectionPool.from_url`` options (``decode_responses``, ``socket_timeout``,
            ``ssl_ca_certs``, ``max_connections`` ...). Different options give a different pool.

    Thread-safe; after ``fork()`` the child gets new pools.

    Raises:
        RedisURLError: ``url`` is malformed (see :func:`validate_redis_url`).
    """
    key = ("url", url, _options_key(opts))

    def make() -> tuple[redis.ConnectionPool, None]:
        validate_redis_url(url)
        try:
            return redis.ConnectionPool.from_url(url, **opts), None
        except ValueError as exc:  # e.g. a query option redis-py cannot parse
            raise RedisURLError(url, str(exc).rstrip(".")) from exc

    return _cached_pool(key, make)


def redis_from_url(url: str, **opts: Any) -> redis.Redis:
    """A client on the shared pool of ``url`` (see :func:`get_redis_pool`); ``decode_responses`` defaults to False."""
    return redis.Redis(connection_pool=get_redis_pool(url, **opts))


def _pool_for_params(params: dict[str, Any]) -> redis.ConnectionPool:
    key = ("params", _options_key(params))

    def make() -> tuple[redis.ConnectionPool, redis.Redis]:
        # Redis(**params) knows how ssl=True and unix_socket_path map onto connection classes in every version.
        # The client is kept with its pool: dropping it could let its finalizer disconnect the shared pool.
        client = redis.Redis(**params)
        return client.connection_pool, client

    return _cached_pool(key, make)


def create_redis_client(config: dict[str, Any]) -> redis.Redis:
    """A Redis client from a Graflow redis config.

    Args:
        config: Either ``{"redis_client": client}`` (returned as is), or ``{"url": ...}`` plus pool options, or
            connection parameters: ``host``, ``port``, ``db``, ``password``, ``username``, ``socket_timeout``,
            ``socket_connect_timeout``, ``ssl`` and ``ssl_*`` (``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``,
            ``ssl_cert_reqs`` ...), ``unix_socket_path`` (or ``path``), ``decode_responses``, ``max_connections``.
            Other keys (``key_prefix`` and the like) are ignored.

    ``decode_responses`` is used as given; when absent it is True, as upstream Graflow always made it.
    The client uses the shared pool of its parameters.
    """
    client = config.get("redis_client")
    if client is not None:
        return client  # type: ignore[no-any-return]
    url = config.get("url")
    if url:
        # The URL carries host, port, db, credentials and TLS (rediss://); the rest of the config adds pool options.
        opts = {
            k: v for k, v in config.items() if (k in _CLIENT_KEYS or k.startswith(_SSL_PREFIX)) and k not in _URL_OWNED
        }
        opts.setdefault("decode_responses", True)
        return redis_from_url(str(url), **opts)
    params = {k: v for k, v in config.items() if k in _CLIENT_KEYS or k.startswith(_SSL_PREFIX)}
    if "path" in config and "unix_socket_path" not in params:
        params["unix_socket_path"] = config["path"]
    params.setdefault("decode_responses", True)
    if not params.get("ssl"):
        # ssl_* options without ssl=True would reach a plain TCP connection, which rejects them.
        params = {k: v for k, v in params.items() if not k.startswith(_SSL_PREFIX)}
    return redis.Redis(connection_pool=_pool_for_params(params))


def _is_ssl_pool(pool: Any) -> bool:
    connection_class = getattr(pool, "connection_class", None)
    return isinstance(connection_class, type) and issubclass(connection_class, redis.SSLConnection)


def extract_redis_config(client: redis.Redis) -> dict[str, Any]:
    """The connection parameters of ``client`` as a plain, picklable dict.

    The result feeds :func:`create_redis_client` to reconnect to the same server with the same credentials,
    database, TLS options and ``decode_responses``. Objects that cannot travel (credential providers, retry
    policies) are left out.
    """
    pool = client.connection_pool
    kwargs: dict[str, Any] = pool.connection_kwargs
    config: dict[str, Any] = {
        k: kwargs[k] for k in _PLAIN_PARAMS if k in kwargs and isinstance(kwargs[k], _PLAIN_TYPES)
    }
    if kwargs.get("path"):
        config["unix_socket_path"] = kwargs["path"]
        config.pop("host", None)
        config.pop("port", None)
    if _is_ssl_pool(pool):
        config["ssl"] = True
        # None means "default" for every ssl_* option; leaving those out keeps the config valid for redis-py
        # versions that lack some of them (a producer and a worker may run different versions).
        config.update(
            (k, v)
            for k, v in kwargs.items()
            if k.startswith(_SSL_PREFIX) and v is not None and isinstance(v, _PLAIN_TYPES)
        )
    config.setdefault("decode_responses", False)
    config.setdefault("db", 0)
    return config


def ensure_redis_connection_params(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with ``redis_client`` replaced by its connection parameters, so it can be pickled.

    Parameters taken from the client win over same-named keys of ``config``: they describe the real connection.
    A config without ``redis_client`` is returned as a copy.
    """
    out = dict(config)
    client = out.pop("redis_client", None)
    if client is not None:
        out.update(extract_redis_config(client))
    return out


def binary_redis_client(client: redis.Redis) -> redis.Redis:
    """A client on the same server as ``client`` whose replies are bytes (``decode_responses=False``).

    Signed payloads are binary, and a ``decode_responses=True`` client would try to decode them as UTF-8. A client
    that already returns bytes is returned as is; otherwise the copy shares a process-wide pool built from the same
    connection parameters (credential provider and retry policy included).
    """
    pool = client.connection_pool
    kwargs: dict[str, Any] = pool.connection_kwargs
    if not kwargs.get("decode_responses", False):
        return client
    params = {k: kwargs[k] for k in _SHARED_PARAMS if k in kwargs}
    params.update((k, v) for k, v in kwargs.items() if k.startswith(_SSL_PREFIX))
    if kwargs.get("path"):
        params["path"] = kwargs["path"]
    params["decode_responses"] = False
    connection_class = pool.connection_class
    max_connections = getattr(pool, "max_connections", None)
    key = ("binary", connection_class, max_connections, _options_key(params))

    def make() -> tuple[redis.ConnectionPool, None]:
        # ConnectionPool(connection_class=..., **kwargs) is the one constructor signature shared by redis-py 5-8.
        return redis.ConnectionPool(connection_class=connection_class, max_connections=max_connections, **params), None

    return redis.Redis(connection_pool=_cached_pool(key, make))


def clear_pools() -> None:
    """Disconnect and forget every pool of this process (tests, and long-lived processes that reconfigure)."""
    with _lock:
        entries = list(_pools.values())
        _pools.clear()
    for pool, _client in entries:
        pool.disconnect()


__all__ = [
    "REDIS_URL_SCHEMES",
    "RedisURLError",
    "binary_redis_client",
    "clear_pools",
    "create_redis_client",
    "ensure_redis_connection_params",
    "extract_redis_config",
    "get_redis_pool",
    "redis_from_url",
    "safe_redis_url",
    "validate_redis_url",
]
