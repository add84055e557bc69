"""Error answers every endpoint of the runs API documents: each is ``{"error", "detail"}``."""

from __future__ import annotations

from typing import Any

from graflow.api.schemas.feedback import ErrorResponse

#: The answers a route may give besides its own, documented on every router of the runs API.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No token, or an unknown one"},
    403: {"model": ErrorResponse, "description": "The token's role may not make this call"},
    422: {"model": ErrorResponse, "description": "A parameter or body that does not fit"},
    503: {"model": ErrorResponse, "description": "The run store (or Redis) does not answer"},
}


def described(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    """One more documented error answer."""
    return {status: {"model": ErrorResponse, "description": description}}


__all__ = ["COMMON_ERRORS", "described"]
