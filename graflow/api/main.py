"""``python -m graflow.api`` (or ``python -m graflow.api.main``): serve the feedback API and web UI with uvicorn.

The app is the one ``graflow server`` serves (:mod:`graflow.api.server`): the runs API under ``/api`` comes with it,
on the default run store (``GRAFLOW_RUN_STORE``, else ``$GRAFLOW_HOME/runs.db``, opened when first needed) and
without registered workflows or Redis. Role tokens come from ``GRAFLOW_API_TOKENS``; without any token a
non-loopback ``--host`` is refused unless ``GRAFLOW_INSECURE=1``.

Flags are Graflow 0.2's, plus ``--auth-token`` (default: the ``GRAFLOW_API_TOKEN`` environment variable; an
operator token) and ``--no-resume``. Unless ``--no-resume`` is given, the server also resumes the runs paused on
questions answered in its store (:class:`graflow.hitl.resumer.FeedbackResumer`, in the server process; with
``--workers N`` each process runs one and their claims keep a run from being resumed twice). CORS is off unless
``--enable-cors`` is given.
``--reload`` and ``--workers N`` work: the app is then built in each server process from the same flags.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from graflow.exceptions import GraflowError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from graflow.api.server import ServerConfig

#: Carries the command line to server processes started by ``--reload`` or ``--workers``.
ARGS_ENV = "GRAFLOW_API_ARGS"

EPILOG = """examples:
  python -m graflow.api --backend filesystem --data-dir feedback_data
  python -m graflow.api --backend redis --redis-host localhost --redis-port 6379
  python -m graflow.api --host 0.0.0.0 --port 8080 --auth-token "$TOKEN"
"""


def parse_args(args: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``sys.argv[1:]`` when ``args`` is None)."""
    parser = argparse.ArgumentParser(
        prog="python -m graflow.api",
        description="Graflow feedback API server (REST API and web UI for human-in-the-loop requests).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    backend = parser.add_argument_group("backend")
    backend.add_argument(
        "--backend",
        choices=["filesystem", "redis"],
        default="filesystem",
        help="where feedback is stored (default: filesystem)",
    )
    backend.add_argument(
        "--data-dir", default="feedback_data", help="folder of the filesystem backend (default: feedback_data)"
    )
    backend.add_argument("--redis-host", default="localhost", help="Redis host (default: localhost)")
    backend.add_argument("--redis-port", type=int, default=6379, help="Redis port (default: 6379)")
    backend.add_argument("--redis-db", type=int, default=0, help="Redis database (default: 0)")
    backend.add_argument(
        "--redis-expiration-days", type=int, default=7, help="days before feedback keys expire (default: 7)"
    )
    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    server.add_argument("--port", type=int, default=8000, help="port to bind (default: 8000)")
    server.add_argument("--reload", action="store_true", help="restart when the code changes (development)")
    server.add_argument("--workers", type=int, default=1, help="server processes (default: 1)")
    server.add_argument(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        default="info",
        help="uvicorn log level (default: info)",
    )
    api = parser.add_argument_group("api")
    api.add_argument("--title", default="Graflow Feedback API", help="API title (default: Graflow Feedback API)")
    api.add_argument("--enable-cors", action="store_true", help="send CORS headers (off by default)")
    api.add_argument("--cors-origins", nargs="+", default=["*"], help="origins allowed by CORS (default: *)")
    api.add_argument("--disable-web-ui", action="store_true", help="serve the JSON API only")
    api.add_argument(
        "--auth-token",
        default=None,
        help="require 'Authorization: Bearer <token>' on every route but GET /health "
        "(default: $GRAFLOW_API_TOKEN; unset means no token)",
    )
    api.add_argument("--no-resume", action="store_true", help="do not resume paused workflows when answers arrive")
    return parser.parse_args(args)  # fmt: skip


def create_app_from_args(args: argparse.Namespace) -> FastAPI:
    """Build the app the parsed flags describe.

    Raises:
        SystemExit: A needed package is missing, or Redis does not answer.
    """
    try:
        from graflow.api.server import create_app
    except ImportError as exc:
        _fail(f"the API needs the 'api' extra (pip install 'graflow[api]'): {exc}")
    try:
        return create_app(server_config(args))
    except GraflowError as exc:
        _fail(str(exc))


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The server configuration the parsed flags describe.

    Raises:
        SystemExit: The Redis feedback store does not answer.
    """
    from graflow.api.server import ServerConfig
    from graflow.config import insecure_allowed

    if args.backend == "redis":
        feedback = {"redis_client": _redis_client(args), "expiration_days": args.redis_expiration_days}
    else:
        feedback = {"data_dir": args.data_dir}
    return ServerConfig(
        host=args.host,
        port=args.port,
        open_store_at_start=False,  # a feedback server keeps working where the run store cannot be opened
        feedback_backend=args.backend,
        feedback_config=feedback,
        title=args.title,
        enable_web_ui=not args.disable_web_ui,
        cors_origins=args.cors_origins if args.enable_cors else None,
        auth_token=args.auth_token,
        insecure=insecure_allowed(),
        resume=not args.no_resume,
        log_level=args.log_level,
    )


def _redis_client(args: argparse.Namespace) -> object:
    try:
        import redis

        from graflow.utils.redis_utils import create_redis_client
    except ImportError as exc:
        _fail(f"the redis backend needs the 'redis' extra (pip install 'graflow[redis]'): {exc}")
    client = create_redis_client({"host": args.redis_host, "port": args.redis_port, "db": args.redis_db})
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        _fail(f"cannot connect to Redis at {args.redis_host}:{args.redis_port}: {exc}")
    return client


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def app_from_environment() -> FastAPI:
    """App factory of server processes started by ``--reload`` or ``--workers``: flags come from the environment."""
    from graflow.config import env

    return create_app_from_args(parse_args(json.loads(env(ARGS_ENV) or "[]")))


def main(args: list[str] | None = None) -> None:
    """Parse the flags and serve until interrupted."""
    argv = sys.argv[1:] if args is None else list(args)
    parsed = parse_args(argv)
    app = create_app_from_args(parsed)  # fails early, in this process, on a bad backend
    try:
        import uvicorn

        from graflow.api.server import SHUTDOWN_GRACE_SECONDS, check_exposure
        from graflow.config import insecure_allowed
    except ImportError as exc:
        _fail(f"the API needs the 'api' extra (pip install 'graflow[api]'): {exc}")
    try:
        exposure = check_exposure(parsed.host, app.state.services.tokens, insecure=insecure_allowed(),
                                  opt_out="GRAFLOW_INSECURE=1")
    except GraflowError as exc:
        _fail(str(exc))
    where = parsed.data_dir if parsed.backend == "filesystem" else f"{parsed.redis_host}:{parsed.redis_port}"
    resuming = "off (--no-resume)" if parsed.no_resume else "on"
    print(
        f"Graflow feedback API: {parsed.backend} backend ({where}), http://{parsed.host}:{parsed.port}/docs; "
        f"resuming paused runs: {resuming}; runs API at /api"
    )
    for line in exposure:
        print(line)
    if parsed.reload or parsed.workers > 1:
        # uvicorn needs an import string to start several processes; each builds the app from the same flags.
        os.environ[ARGS_ENV] = json.dumps(argv)
        uvicorn.run(
            "graflow.api.main:app_from_environment",
            factory=True,
            host=parsed.host,
            port=parsed.port,
            reload=parsed.reload,
            workers=None if parsed.reload else parsed.workers,
            log_level=parsed.log_level,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
    else:
        uvicorn.run(app, host=parsed.host, port=parsed.port, log_level=parsed.log_level,
                    timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS)


if __name__ == "__main__":
    main()
