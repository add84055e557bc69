"""Error answers: JSON ``{"error": <code>, "detail": ...}`` for the API, an HTML page for the web UI.

Code below the endpoints raises :class:`ApiError` (a :class:`~graflow.exceptions.GraflowError` that carries its
HTTP status); the handlers installed here turn it into the same JSON answer as an ``HTTPException``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from graflow.exceptions import GraflowError

logger = logging.getLogger(__name__)

#: Short codes of the statuses the API answers with.
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
    500: "internal_error",
    503: "service_unavailable",
}


class ApiError(GraflowError):
    """A request the API cannot serve, with the HTTP status that says why.

    Args:
        status_code: The HTTP status of the answer (4xx or 5xx).
        message: What went wrong; the answer's ``detail`` unless ``detail`` is given.
        detail: A structured ``detail`` for the answer (a list of problems ...).
        headers: Extra response headers.
    """

    def __init__(
        self, status_code: int, message: str, *, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        self.status_code = status_code
        self.detail = message if detail is None else detail
        self.headers = headers
        super().__init__(message)


def not_found(what: str) -> ApiError:
    """404: ``what`` (e.g. "Run 'abc'") does not exist."""
    return ApiError(404, f"{what} not found")


def conflict(message: str) -> ApiError:
    """409: the request does not fit the current state."""
    return ApiError(409, message)


def unavailable(message: str) -> ApiError:
    """503: a service the request needs (the run store, Redis) does not answer."""
    return ApiError(503, message)


def error_code(status_code: int) -> str:
    """``not_found`` for 404 and so on; ``http_<status>`` for the rest."""
    return ERROR_CODES.get(status_code, f"http_{status_code}")


def error_response(status_code: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error answer."""
    return JSONResponse(
        {"error": error_code(status_code), "detail": jsonable_encoder(detail)}, status_code=status_code, headers=headers
    )


def _wants_html(request: Request) -> bool:
    return request.url.path.startswith("/ui/") and getattr(request.app.state, "templates", None) is not None


def _html_error(request: Request, status_code: int, detail: Any) -> Response:
    message = detail if isinstance(detail, str) else "The request could not be processed."
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request,
        "common/error.html",
        {
            "status_code": status_code,
            "error_message": message,
            "error_detail": None if isinstance(detail, str) else detail,
        },
        status_code=status_code,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer HTTP errors, validation errors and unexpected failures in the house format."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_html(request):
            return _html_error(request, exc.status_code, exc.detail)
        return error_response(exc.status_code, exc.detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(ApiError)
    async def api_problem(request: Request, exc: ApiError) -> Response:
        if _wants_html(request):
            return _html_error(request, exc.status_code, exc.message)
        return error_response(exc.status_code, exc.detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if _wants_html(request):
            return _html_error(request, 422, "Some fields are invalid.")
        return error_response(422, exc.errors())

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        logger.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "Internal server error")
