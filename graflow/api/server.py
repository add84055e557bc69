"""The Graflow API server: the runs API under ``/api``, with the feedback API, web UI and resumer of
``python -m graflow.api`` at their usual paths, in one app.

:func:`create_app` builds it; :func:`serve` checks the configuration, says at start what it serves and to whom, and
runs it with uvicorn (``graflow server`` and ``python -m graflow.api`` both come here). Without any token the server
refuses to listen beyond loopback unless told it may (:func:`check_exposure`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TextIO

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from graflow import defaults
from graflow.api.access import AccessMiddleware, TokenSet, load_tokens
from graflow.api.app import TOKEN_ENV, create_feedback_api
from graflow.api.endpoints import events, operations, runs, workflows
from graflow.api.endpoints.workflows import API_VERSION, ENDPOINTS
from graflow.api.errors import ApiError
from graflow.api.redis_link import RedisLink
from graflow.api.services import ApiServices
from graflow.api.store import StoreHandle
from graflow.api.workflows import WorkflowCatalog
from graflow.config import env
from graflow.core.workflow import WorkflowContext
from graflow.exceptions import ConfigError
from graflow.security.transport import is_loopback_host

DESCRIPTION = """Graflow's HTTP API: start and follow workflow runs (`/api/workflows`, `/api/runs`, with Server-Sent
Events at `/api/runs/{run_id}/events`), operate the workers' queue (`/api/workers`, `/api/dead-letters`), and answer
human-in-the-loop questions (`/api/feedback`, web pages under `/ui/feedback`).

Send `Authorization: Bearer <token>`: viewer tokens may read, operator tokens may also start, cancel and retry runs,
answer questions and requeue dead letters. Errors answer `{"error": <code>, "detail": ...}`."""


#: Seconds a stopping server lets open requests finish before it closes them: an event stream of a run that goes on
#: would otherwise keep it up until the run ends.
SHUTDOWN_GRACE_SECONDS = 5


@dataclass
class ServerConfig:
    """What a server serves, where, and to whom.

    Attributes:
        host: Address to bind.
        port: Port to bind.
        store: The run store: a URL, a store, or None for ``GRAFLOW_RUN_STORE`` / ``$GRAFLOW_HOME/runs.db``.
        open_store_at_start: Open the store before serving (fail at start when it cannot be opened); otherwise it is
            opened by the first request that needs it, and a missing default SQLite file is not created.
        redis_url: The workers' Redis (distributed runs, workers, dead letters); None: none.
        redis_key_prefix: The workers' key prefix.
        tokens_file: A file of ``role:token`` lines.
        auth_token: An operator token (``--auth-token``); None reads ``GRAFLOW_API_TOKEN``.
        insecure: Serve a non-loopback address without any token.
        feedback_backend: ``filesystem`` or ``redis`` (the server's Redis unless ``feedback_config`` names one).
        feedback_config: Settings of the feedback backend (``data_dir`` ...).
        title: Title of the docs and of ``GET /``.
        enable_web_ui: Serve the feedback pages.
        cors_origins: Origins allowed by CORS; None: no CORS headers.
        resume: Resume runs paused on questions answered in the feedback store.
        log_level: uvicorn's log level.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    store: Any = None
    open_store_at_start: bool = True
    redis_url: str | None = None
    redis_key_prefix: str = defaults.REDIS_KEY_PREFIX
    tokens_file: str | None = None
    auth_token: str | None = None
    insecure: bool = False
    feedback_backend: str = "filesystem"
    feedback_config: dict[str, Any] | None = None
    title: str = "Graflow API"
    enable_web_ui: bool = True
    cors_origins: list[str] | None = None
    resume: bool = True
    log_level: str = "info"

    def tokens(self) -> TokenSet:
        """The tokens this configuration accepts (see :func:`graflow.api.access.load_tokens`)."""
        operator = env(TOKEN_ENV) if self.auth_token is None else self.auth_token
        return load_tokens(tokens_file=self.tokens_file, operator_token=operator)


WorkflowEntry = WorkflowContext | tuple[WorkflowContext, str | None]


def create_app(config: ServerConfig | None = None, workflows_: Iterable[WorkflowEntry] = (), *,
               tokens: TokenSet | None = None) -> FastAPI:
    """Build the server's app.

    Args:
        config: The configuration (defaults: loopback, default store, no Redis, filesystem feedback).
        workflows_: The workflows it may start: workflows, or ``(workflow, spec)`` pairs naming where each was loaded
            from.
        tokens: The accepted tokens (default: ``config.tokens()``).

    Returns:
        The app; ``app.state.services`` holds its :class:`~graflow.api.services.ApiServices`.

    Raises:
        ConfigError: Two workflows with one name, a bad token entry, a Redis feedback store without Redis.
    """
    config = config or ServerConfig()
    tokens = config.tokens() if tokens is None else tokens
    catalog = WorkflowCatalog(entry if isinstance(entry, tuple) else (entry, None) for entry in workflows_)
    redis = RedisLink(config.redis_url, config.redis_key_prefix)
    store = StoreHandle(config.store, create_default=config.open_store_at_start)
    services = ApiServices.build(catalog, store, redis, tokens)
    app = create_feedback_api(
        feedback_backend=config.feedback_backend,
        feedback_config=_feedback_config(config, redis),
        title=config.title,
        description=DESCRIPTION,
        enable_cors=False,  # added below, outside the token check, so refusals carry CORS headers too
        enable_web_ui=config.enable_web_ui,
        auth_token="",  # the access middleware below checks tokens and roles
        resume=config.resume,
        resumer_options={"resume": services.launcher.resume},
    )
    services.use_feedback_backend(app.state.feedback_manager.backend)
    app.state.services = services
    for module in (workflows, runs, events, operations):
        app.include_router(module.router)
    app.state.info["endpoints"]["runs_api"] = dict(ENDPOINTS)
    app.state.info["api"] = {"version": API_VERSION, "index": "/api", "docs": "/docs", "openapi": "/openapi.json"}
    app.add_middleware(AccessMiddleware, tokens=tokens, audit=services.audit)
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=config.cors_origins,
                           allow_credentials="*" not in config.cors_origins, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["Location", "Idempotent-Replayed"])
    _wrap_lifespan(app, services)
    return app


def _feedback_config(config: ServerConfig, redis: RedisLink) -> dict[str, Any] | None:
    settings = dict(config.feedback_config or {})
    if config.feedback_backend == "redis" and "redis_client" not in settings and "host" not in settings:
        if not redis.configured:
            raise ConfigError("A Redis feedback store needs the server's Redis (--redis-url)")
        try:
            settings["redis_client"] = redis.client()
        except ApiError as exc:
            raise ConfigError(str(exc)) from exc
    return settings or None


def _wrap_lifespan(app: FastAPI, services: ApiServices) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        services.start()
        try:
            async with inner(app_) as state:  # the feedback app's: its resumer, and its store closed at the end
                try:
                    yield state
                finally:  # local runs stop before the feedback store they may ask questions in is closed
                    await anyio.to_thread.run_sync(services.launcher.shutdown)
        finally:
            services.stop()

    app.router.lifespan_context = lifespan


def check_exposure(host: str, tokens: TokenSet, *, insecure: bool, opt_out: str = "--insecure") -> list[str]:
    """What the server says at start about who may call it (``opt_out`` names how to serve without tokens).

    Returns:
        Lines to print.

    Raises:
        ConfigError: No token is configured and ``host`` is not loopback, without ``insecure``.
    """
    if tokens:
        counts = tokens.roles()
        return [f"access: bearer tokens required ({counts['viewer']} viewer, {counts['operator']} operator); "
                "GET /health is open"]
    if is_loopback_host(host):
        return ["access: no token configured, so every caller may start, cancel and retry runs; listening on "
                "loopback only (set GRAFLOW_API_TOKENS or --tokens-file to serve other hosts)"]
    if not insecure:
        raise ConfigError(
            f"Refusing to serve {host} without a token: anyone who reaches it could start, cancel and retry runs. "
            "Give tokens (GRAFLOW_API_TOKENS=\"viewer:...,operator:...\", --tokens-file, or GRAFLOW_API_TOKEN), "
            f"bind a loopback address, or use {opt_out}"
        )
    return [f"WARNING: no token configured and {opt_out}: anyone who reaches {host} may start, cancel and retry "
            "runs and answer questions"]


def safe_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def startup_lines(config: ServerConfig, app: FastAPI, exposure: list[str]) -> list[str]:
    """What the server prints when it starts."""
    services: ApiServices = app.state.services
    where = f"http://{config.host}:{config.port}"
    names = services.catalog.names()
    store = services.store.opened
    redis = f"{safe_url(config.redis_url)} (prefix {config.redis_key_prefix})" if config.redis_url else "none"
    return [
        f"Graflow API on {where} (docs {where}/docs, API index {where}/api)",
        f"workflows: {', '.join(names) if names else 'none registered (--app, --workflows-dir)'}",
        f"run store: {store!r}" if store is not None else "run store: opened on first use",
        f"Redis: {redis}; feedback store: {config.feedback_backend}; resuming paused runs: "
        f"{'on' if config.resume else 'off'}",
        *exposure,
    ]


def serve(config: ServerConfig, workflows_: Iterable[WorkflowEntry] = (), *, out: TextIO | None = None) -> None:
    """Check ``config``, build the app, say what is served, and serve until interrupted.

    Raises:
        ConfigError: A configuration the server refuses (exposure without tokens, a store or Redis that does not
            answer, a bad token entry ...); nothing is served then.
    """
    import uvicorn

    tokens = config.tokens()
    exposure = check_exposure(config.host, tokens, insecure=config.insecure)
    app = create_app(config, workflows_, tokens=tokens)
    services: ApiServices = app.state.services
    try:
        if config.open_store_at_start:
            services.store.get()
        if config.redis_url:
            services.redis.client().ping()
    except ApiError as exc:
        raise ConfigError(exc.message) from exc
    except Exception as exc:
        raise ConfigError(f"Redis at {safe_url(config.redis_url or '')} does not answer: {exc}") from exc
    stream = out or sys.stdout
    for line in startup_lines(config, app, exposure):
        print(line, file=stream, flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level=config.log_level,
                timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS)


__all__ = [
    "SHUTDOWN_GRACE_SECONDS",
    "ServerConfig",
    "check_exposure",
    "create_app",
    "safe_url",
    "serve",
    "startup_lines",
]
