"""Bearer-token protection of the whole app: every request except ``GET /health`` needs
``Authorization: Bearer <token>`` (the JSON API, the web pages and the docs alike)."""

from __future__ import annotations

import hmac
import json
from typing import Any

from graflow.api.errors import error_code

#: Requests that never need the token: load balancers and orchestrators probe health without credentials.
OPEN_ROUTES = frozenset({("GET", "/health"), ("HEAD", "/health")})

Scope = dict[str, Any]


class BearerTokenMiddleware:
    """ASGI middleware that answers 401 unless the request carries the token.

    Args:
        app: The wrapped ASGI app.
        token: The expected token (non-empty).
    """

    def __init__(self, app: Any, token: str) -> None:
        if not token:
            raise ValueError("BearerTokenMiddleware needs a non-empty token")
        self.app = app
        self._expected = f"bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in OPEN_ROUTES or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": error_code(401), "detail": "Missing or invalid bearer token"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, credentials = value.strip().partition(b" ")
                given = scheme.lower() + b" " + credentials.strip()
                # compare_digest takes as long whatever the first wrong byte is: no timing oracle
                return hmac.compare_digest(given, self._expected)
        return False
