"""Error answers: JSON ``{"error": <code>, "detail": ...}`` for the API, an HTML page for the web UI."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

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
}


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

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if _wants_html(request):
            return _html_error(request, 422, "Some fields are invalid.")
        return error_response(422, exc.errors())

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        logger.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "Internal server error")
