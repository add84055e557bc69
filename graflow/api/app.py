"""The FastAPI app of human-in-the-loop feedback: REST API, web UI, health and docs.

``create_feedback_api`` keeps Graflow 0.2's signature. Additions: ``auth_token`` (or the ``GRAFLOW_API_TOKEN``
environment variable) protects every route but ``GET /health``; errors answer ``{"error", "detail"}``; with
``cors_origins`` left at ``*``, CORS never allows credentials; ``resume=True`` runs a
:class:`~graflow.hitl.resumer.FeedbackResumer` while the app is up, so a run paused on a question resumes in this
process once the question is answered (``python -m graflow.api`` turns it on unless ``--no-resume`` is given).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from graflow.api.auth import BearerTokenMiddleware
from graflow.api.endpoints import feedback, feedback_ui
from graflow.api.errors import install_error_handlers
from graflow.config import env
from graflow.hitl.backend.base import FeedbackBackend
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.resumer import FeedbackResumer

#: Environment variable holding the API's bearer token when ``auth_token`` is not given.
TOKEN_ENV = "GRAFLOW_API_TOKEN"
SERVICE_NAME = "graflow-feedback-api"
DEFAULT_DESCRIPTION = "Human-in-the-Loop feedback management API for Graflow workflows"
_PACKAGE_DIR = Path(__file__).resolve().parent


def create_feedback_api(
    feedback_backend: str | FeedbackBackend = "filesystem",
    feedback_config: dict[str, Any] | None = None,
    title: str = "Graflow Feedback API",
    description: str = DEFAULT_DESCRIPTION,
    version: str = "1.0.0",
    enable_cors: bool = True,
    cors_origins: list[str] | None = None,
    enable_web_ui: bool = True,
    *,
    auth_token: str | None = None,
    resume: bool = False,
    resumer_options: dict[str, Any] | None = None,
) -> FastAPI:
    """Build the feedback app.

    Args:
        feedback_backend: ``"filesystem"``, ``"redis"`` or a backend instance.
        feedback_config: Settings of a backend given by name (``data_dir``; ``redis_client``/``host``/``port``/
            ``db``/``expiration_days``/``key_prefix``).
        title: Title in the docs and the root answer.
        description: Description in the docs.
        version: Version reported by ``/``, ``/health`` and the docs.
        enable_cors: Add CORS headers for ``cors_origins``.
        cors_origins: Allowed origins (default ``["*"]``, which never allows credentials).
        enable_web_ui: Serve the pages under ``/ui/feedback``.
        auth_token: Bearer token required on every route but ``GET /health``; None reads ``GRAFLOW_API_TOKEN``,
            ``""`` turns protection off.
        resume: While the app runs (its lifespan), resume the runs paused on questions answered in this store.
            ``app.state.resume`` holds the choice and may be changed before the app starts.
        resumer_options: Keyword arguments of :class:`~graflow.hitl.resumer.FeedbackResumer` (``poll_interval``,
            ``lease``, ``max_concurrent`` ...).

    Returns:
        The app; ``app.state.feedback_manager`` is its :class:`~graflow.hitl.manager.FeedbackManager` and, while
        the app runs with ``resume``, ``app.state.resumer`` its resumer (None otherwise).
    """
    manager = FeedbackManager(backend=feedback_backend, backend_config=feedback_config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resumer = FeedbackResumer(manager, **(resumer_options or {})).start() if app.state.resume else None
        app.state.resumer = resumer
        try:
            yield
        finally:
            if resumer is not None:
                resumer.stop()
            app.state.resumer = None
            manager.close()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.feedback_manager = manager
    app.state.resume = resume
    app.state.resumer = None
    if enable_web_ui:
        app.state.templates = Jinja2Templates(directory=str(_PACKAGE_DIR / "templates"))
        static_dir = _PACKAGE_DIR / "static"
        if static_dir.is_dir():
            app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
        app.include_router(feedback_ui.router)
    app.include_router(feedback.router)
    _add_info_routes(app, manager, title=title, description=description, version=version, web_ui=enable_web_ui)
    install_error_handlers(app)

    token = env(TOKEN_ENV) if auth_token is None else auth_token
    if token:
        app.add_middleware(BearerTokenMiddleware, token=token)
    if enable_cors:
        # Added after the token check, so it wraps it: preflight requests (which carry no token) get CORS answers.
        origins = cors_origins or ["*"]
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials="*" not in origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    return app


def _add_info_routes(
    app: FastAPI, manager: FeedbackManager, *, title: str, description: str, version: str, web_ui: bool
) -> None:
    endpoints: dict[str, dict[str, str]] = {
        "api": {
            "list_feedback": "GET /api/feedback",
            "get_feedback": "GET /api/feedback/{feedback_id}",
            "respond_feedback": "POST /api/feedback/{feedback_id}/respond",
            "cancel_feedback": "DELETE /api/feedback/{feedback_id}",
        }
    }
    if web_ui:
        endpoints["web_ui"] = {
            "feedback_list": "GET /ui/feedback/",
            "feedback_form": "GET /ui/feedback/{feedback_id}",
            "submit_feedback": "POST /ui/feedback/{feedback_id}/submit",
            "success_page": "GET /ui/feedback/{feedback_id}/success",
            "expired_page": "GET /ui/feedback/{feedback_id}/expired",
        }
    info = {
        "name": title,
        "version": version,
        "description": description,
        "docs": "/docs",
        "redoc": "/redoc",
        "openapi": "/openapi.json",
        "health": "/health",
        "web_ui_enabled": web_ui,
        "endpoints": endpoints,
    }

    app.state.info = info  # an app that mounts more routers adds them to the map

    @app.get("/", summary="API information", tags=["info"])
    def root(request: Request) -> dict[str, Any]:
        """Name, version, documentation links and the endpoint map."""
        return request.app.state.info  # type: ignore[no-any-return]

    @app.get("/health", summary="Health check", tags=["health"])
    def health_check() -> dict[str, str]:
        """Always answers, without a token: status, service, version and the backend's class name."""
        return {
            "status": "healthy",
            "service": SERVICE_NAME,
            "version": version,
            "backend": type(manager.backend).__name__,
        }


def create_feedback_api_with_redis(
    redis_host: str = "localhost", redis_port: int = 6379, redis_db: int = 0, **kwargs: Any
) -> FastAPI:
    """:func:`create_feedback_api` on a Redis backend at ``redis_host:redis_port/redis_db``.

    ``feedback_config`` in ``kwargs`` adds backend settings (``expiration_days``, ``key_prefix`` ...).
    """
    from graflow.utils.redis_utils import create_redis_client

    client = create_redis_client({"host": redis_host, "port": redis_port, "db": redis_db})
    config = {**(kwargs.pop("feedback_config", None) or {}), "redis_client": client}
    return create_feedback_api(feedback_backend="redis", feedback_config=config, **kwargs)


__all__ = ["create_feedback_api", "create_feedback_api_with_redis", "TOKEN_ENV"]
