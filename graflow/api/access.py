"""Who may call the API: bearer tokens with two roles, checked by one ASGI middleware that also audits.

- ``viewer`` tokens may read (``GET``/``HEAD``);
- ``operator`` tokens may also change things: start, cancel and retry runs, answer or cancel questions, requeue and
  delete dead letters.

Tokens come from ``GRAFLOW_API_TOKENS`` (``"viewer:TOKEN,operator:TOKEN2"``), from a tokens file (one
``role:token`` a line; blank lines and ``#`` comments are skipped), and from the single token of the feedback API
(``GRAFLOW_API_TOKEN`` or ``--auth-token``), which counts as an operator token. With no token at all, every caller
is an ``anonymous`` operator: the server then only listens on loopback unless told otherwise (see
:func:`graflow.api.server.check_exposure`).

``GET /health`` never needs a token, nor does an ``OPTIONS`` request (a CORS preflight carries no credentials; the
CORS middleware answers it). Every other mutating request from a known caller is written to the audit log once it
has been answered, with the status it got, including the ones refused because the role may not make them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graflow.api.errors import error_code
from graflow.config import env
from graflow.exceptions import ConfigError

logger = logging.getLogger(__name__)

VIEWER = "viewer"
OPERATOR = "operator"
ANONYMOUS = "anonymous"
ROLES = (VIEWER, OPERATOR)
#: Environment variable with ``role:token`` pairs separated by commas.
TOKENS_ENV = "GRAFLOW_API_TOKENS"
#: Methods a viewer may use.
SAFE_METHODS = frozenset({"GET", "HEAD"})
#: Requests that never need a token: load balancers and orchestrators probe health without credentials.
OPEN_ROUTES = frozenset({("GET", "/health"), ("HEAD", "/health")})
#: Hex digits of a token's fingerprint in the audit log.
FINGERPRINT_CHARS = 8

Scope = dict[str, Any]
#: Called with the caller, the scope (whose ``state`` the endpoint may have annotated) and the answer's status.
AuditWriter = Callable[["Principal", Scope, int], Any]


@dataclass(frozen=True)
class Principal:
    """The caller of one request.

    Attributes:
        role: ``viewer``, ``operator`` or ``anonymous`` (no tokens configured: may do everything).
        fingerprint: First hex digits of the SHA-256 of the token; None for anonymous callers.
    """

    role: str
    fingerprint: str | None = None

    @property
    def may_change(self) -> bool:
        """Whether this caller may make mutating calls."""
        return self.role in (OPERATOR, ANONYMOUS)

    def __str__(self) -> str:
        return self.role if self.fingerprint is None else f"{self.role}:{self.fingerprint}"


def fingerprint(token: str) -> str:
    """A short one-way fingerprint of ``token`` (safe to log)."""
    return hashlib.sha256(token.encode()).hexdigest()[:FINGERPRINT_CHARS]


class TokenSet:
    """Tokens and their roles. Lookups compare SHA-256 digests, so no token is compared byte by byte.

    Args:
        tokens: ``(role, token)`` pairs.

    Raises:
        ConfigError: An unknown role, an empty token, or one token given two roles.
    """

    def __init__(self, tokens: Iterable[tuple[str, str]] = ()) -> None:
        self._by_digest: dict[bytes, Principal] = {}
        for role, token in tokens:
            self.add(role, token)

    def add(self, role: str, token: str) -> None:
        """Accept ``token`` for ``role`` (see the class for errors)."""
        role, token = role.strip().lower(), token.strip()
        if role not in ROLES:
            raise ConfigError(f"Unknown API role {role!r}; use one of: {', '.join(ROLES)}")
        if not token:
            raise ConfigError(f"An API token of role {role!r} is empty")
        digest = hashlib.sha256(token.encode()).digest()
        known = self._by_digest.get(digest)
        if known is not None and known.role != role:
            raise ConfigError(f"The API token {fingerprint(token)}... is given two roles ({known.role}, {role})")
        self._by_digest[digest] = Principal(role, fingerprint(token))

    def __len__(self) -> int:
        return len(self._by_digest)

    def __bool__(self) -> bool:
        return bool(self._by_digest)

    def roles(self) -> dict[str, int]:
        """How many tokens each role has."""
        counts = dict.fromkeys(ROLES, 0)
        for principal in self._by_digest.values():
            counts[principal.role] += 1
        return counts

    def principal(self, token: str) -> Principal | None:
        """The caller ``token`` stands for, or None for an unknown token."""
        return self._by_digest.get(hashlib.sha256(token.encode()).digest())


def parse_tokens(text: str, *, source: str) -> list[tuple[str, str]]:
    """``role:token`` entries separated by commas or new lines (blank entries and ``#`` comments skipped).

    Raises:
        ConfigError: An entry without ``role:``; the message names ``source`` and the entry's number.
    """
    pairs: list[tuple[str, str]] = []
    entries = [part for line in text.splitlines() for part in line.split(",")]
    for number, raw in enumerate(entries, start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        role, sep, token = entry.partition(":")
        if not sep:
            raise ConfigError(f"{source}: entry {number} is not 'role:token' (roles: {', '.join(ROLES)})")
        pairs.append((role, token))
    return pairs


def load_tokens(*, tokens_file: str | Path | None = None, operator_token: str | None = None) -> TokenSet:
    """The tokens of a server: ``GRAFLOW_API_TOKENS``, then ``tokens_file``, then ``operator_token``.

    Args:
        tokens_file: A file with one ``role:token`` a line.
        operator_token: The feedback API's single token (``--auth-token`` / ``GRAFLOW_API_TOKEN``), an operator.

    Raises:
        ConfigError: A malformed entry, an unknown role, or a tokens file that cannot be read.
    """
    tokens = TokenSet(parse_tokens(env(TOKENS_ENV) or "", source=TOKENS_ENV))
    if tokens_file is not None:
        try:
            text = Path(tokens_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"Cannot read the tokens file {tokens_file}: {exc}", cause=exc) from exc
        for role, token in parse_tokens(text, source=str(tokens_file)):
            tokens.add(role, token)
    if operator_token:
        tokens.add(OPERATOR, operator_token)
    return tokens


class AccessMiddleware:
    """ASGI middleware: authenticate the bearer token, check the role against the method, audit mutations.

    The caller is put in ``scope["state"]["principal"]`` for the endpoints.

    Args:
        app: The wrapped ASGI app.
        tokens: The accepted tokens; empty means every caller is an anonymous operator.
        audit: Called after every mutating request of a known caller has been answered.
    """

    def __init__(self, app: Any, tokens: TokenSet, audit: AuditWriter | None = None) -> None:
        self.app = app
        self.tokens = tokens
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS" or (method, scope["path"]) in OPEN_ROUTES:
            await self.app(scope, receive, send)
            return
        principal = self._principal(scope)
        if principal is None:
            await _refuse(send, 401, "Missing or invalid bearer token", {b"www-authenticate": b"Bearer"})
            return
        scope.setdefault("state", {})["principal"] = principal
        if method in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        status = [500]

        async def send_and_note(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            if principal.may_change:
                await self.app(scope, receive, send_and_note)
            else:
                detail = f"The {principal.role} role may only read; {method} needs an operator token"
                await _refuse(send_and_note, 403, detail)
        finally:
            if self.audit is not None:
                await self.audit(principal, scope, status[0])

    def _principal(self, scope: Scope) -> Principal | None:
        if not self.tokens:
            return Principal(ANONYMOUS)
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, credentials = value.decode("latin-1").strip().partition(" ")
                if scheme.lower() != "bearer" or not credentials.strip():
                    return None
                return self.tokens.principal(credentials.strip())
        return None


async def _refuse(send: Any, status: int, detail: str, headers: dict[bytes, bytes] | None = None) -> None:
    body = json.dumps({"error": error_code(status), "detail": detail}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += list((headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


__all__ = [
    "ANONYMOUS",
    "OPERATOR",
    "ROLES",
    "TOKENS_ENV",
    "VIEWER",
    "AccessMiddleware",
    "Principal",
    "TokenSet",
    "fingerprint",
    "load_tokens",
    "parse_tokens",
]
