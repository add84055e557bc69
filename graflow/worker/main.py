"""``python -m graflow.worker.main``: run a worker until SIGTERM/SIGINT (spec section 8).

Every upstream flag keeps its name, default and environment fallback; the new ones are ``--redis-url``,
``--lease-timeout``, ``--max-deliveries``, ``--concurrency`` (alias of ``--max-concurrent-tasks``), ``--prefetch``,
``--graceful-shutdown-timeout``, ``--metrics-port``, ``--tracer``, ``--handler`` and ``--import``.
The ``graflow worker`` console command uses the same parser and entry point.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from graflow import config, defaults
from graflow.exceptions import ConfigError

logger = logging.getLogger("graflow.worker")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: Exit codes: 0 clean stop, 1 Redis unreachable, 2 bad configuration (a malformed Redis URL, or the D20 transport
#: refusal), reported as one line on stderr.
EXIT_OK, EXIT_REDIS, EXIT_CONFIG = 0, 1, 2


def _env(name: str, default: Any) -> Any:
    value = config.env(name)
    return default if value in (None, "") else value


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every worker flag (with its environment fallback) to ``parser``."""
    pid = os.getpid()
    parser.add_argument("--worker-id", default=_env("WORKER_ID", f"worker_{pid}"), help="worker name (WORKER_ID)")
    parser.add_argument(
        "--max-concurrent-tasks",
        "--concurrency",
        dest="max_concurrent_tasks",
        type=int,
        default=int(_env("MAX_CONCURRENT_TASKS", defaults.WORKER_MAX_CONCURRENT_TASKS)),
        help="tasks run at once (MAX_CONCURRENT_TASKS)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=float(_env("POLL_INTERVAL", defaults.WORKER_POLL_INTERVAL)),
        help="first reconnect back-off in seconds; fetching blocks on the stream (POLL_INTERVAL)",
    )
    parser.add_argument("--redis-host", default=_env("REDIS_HOST", "localhost"), help="(REDIS_HOST)")
    parser.add_argument("--redis-port", type=int, default=int(_env("REDIS_PORT", 6379)), help="(REDIS_PORT)")
    parser.add_argument("--redis-db", type=int, default=int(_env("REDIS_DB", 0)), help="(REDIS_DB)")
    parser.add_argument(
        "--redis-key-prefix",
        default=_env("REDIS_KEY_PREFIX", defaults.REDIS_KEY_PREFIX),
        help="must match the producer's key_prefix (REDIS_KEY_PREFIX)",
    )
    parser.add_argument(
        "--redis-url",
        default=config.env("GRAFLOW_REDIS_URL"),
        help="redis://, rediss:// (TLS) or unix:// URL with user/password; overrides --redis-host/port/db "
        "(GRAFLOW_REDIS_URL)",
    )
    parser.add_argument(
        "--lease-timeout",
        type=float,
        default=float(_env("GRAFLOW_LEASE_TIMEOUT", defaults.LEASE_TIMEOUT_SECONDS)),
        help="seconds before a dead worker's task is reclaimed (GRAFLOW_LEASE_TIMEOUT)",
    )
    parser.add_argument(
        "--max-deliveries",
        type=int,
        default=int(_env("GRAFLOW_MAX_DELIVERIES", defaults.MAX_DELIVERIES)),
        help="deliveries before a task is dead-lettered (GRAFLOW_MAX_DELIVERIES)",
    )
    parser.add_argument(
        "--prefetch",
        type=int,
        default=_env("GRAFLOW_WORKER_PREFETCH", None),
        help="most tasks held beyond the running ones; the worker holds only what it finishes within 50 ms, 0 turns "
        "prefetching off (default: 16 per slot) (GRAFLOW_WORKER_PREFETCH)",
    )
    parser.add_argument(
        "--graceful-shutdown-timeout",
        type=float,
        default=float(_env("GRACEFUL_SHUTDOWN_TIMEOUT", defaults.WORKER_GRACEFUL_SHUTDOWN_TIMEOUT)),
        help="seconds running tasks may take to finish after SIGTERM (GRACEFUL_SHUTDOWN_TIMEOUT)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=_env("GRAFLOW_METRICS_PORT", None),
        help="serve /metrics, /healthz, /readyz on this port (GRAFLOW_METRICS_PORT)",
    )
    parser.add_argument(
        "--metrics-host", default=_env("GRAFLOW_METRICS_HOST", "127.0.0.1"), help="(GRAFLOW_METRICS_HOST)"
    )
    parser.add_argument(
        "--tracer",
        choices=("noop", "console", "otel", "langfuse"),
        default=_env("GRAFLOW_TRACER", "noop"),
        help="tracer for every task (GRAFLOW_TRACER)",
    )
    parser.add_argument(
        "--handler",
        dest="handlers",
        action="append",
        default=[],
        metavar="NAME=MODULE:ATTR",
        help="register a task handler (a TaskHandler instance, or a class built without arguments); repeatable",
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module first (where the workflows' task functions live); repeatable",
    )
    parser.add_argument(
        "--log-level",
        default=str(_env("LOG_LEVEL", "INFO")).upper(),
        type=str.upper,
        choices=LOG_LEVELS,
        help="(LOG_LEVEL)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m graflow.worker.main``."""
    parser = argparse.ArgumentParser(prog="python -m graflow.worker.main", description="Run a Graflow worker")
    add_worker_arguments(parser)
    return parser


def _load_handlers(specs: list[str]) -> dict[str, Any]:
    handlers: dict[str, Any] = {}
    for spec in specs:
        name, sep, target = spec.partition("=")
        module_name, colon, attr = target.partition(":")
        if not sep or not colon or not name:
            raise ConfigError(f"--handler expects NAME=MODULE:ATTR, got {spec!r}")
        obj = getattr(importlib.import_module(module_name), attr)
        handlers[name] = obj() if isinstance(obj, type) else obj
    return handlers


def _redis_client(args: argparse.Namespace) -> Any:
    from graflow.utils.redis_utils import create_redis_client, redis_from_url

    if args.redis_url:
        return redis_from_url(args.redis_url)
    return create_redis_client(
        {"host": args.redis_host, "port": args.redis_port, "db": args.redis_db, "decode_responses": False}
    )


def _observability(args: argparse.Namespace, client: Any, queue: Any) -> tuple[list[Any], Any]:
    """Hooks and server for ``--metrics-port``; nothing when the observability package is absent."""
    if args.metrics_port is None:
        return [], None
    try:
        from graflow.observability.health import HealthMonitor, redis_ping_check
        from graflow.observability.server import start_observability_server
    except ImportError as exc:
        logger.warning("--metrics-port ignored: observability support is not installed (%s)", exc)
        return [], None
    hooks: list[Any] = []
    try:
        from graflow.observability.metrics import MetricsHook

        hooks.append(MetricsHook())
    except ImportError as exc:
        logger.warning("Prometheus metrics unavailable (%s); serving health checks only", exc)
    monitor = HealthMonitor()
    monitor.register_check("redis", redis_ping_check(client), critical=True)
    server = start_observability_server(int(args.metrics_port), host=args.metrics_host, health=monitor)
    for hook in hooks:
        queue.stream.hooks.add(hook)
    return hooks, server


def run_worker(args: argparse.Namespace) -> int:
    """Start a worker from parsed arguments and block until it is stopped; returns the exit code."""
    import redis

    from graflow.distributed.queue import DistributedTaskQueue
    from graflow.distributed.streams import default_signer
    from graflow.security.transport import ensure_transport_allowed
    from graflow.worker.worker import TaskWorker

    try:
        from graflow.observability.logging import configure_logging

        configure_logging(level=args.log_level)
    except ImportError:
        logging.basicConfig(level=args.log_level)
    # Signals are handled from the start: a SIGTERM while the worker starts up (its health port may already answer)
    # stops it cleanly once it runs, and a second signal forces the process down.
    stop_requested = threading.Event()
    holder: dict[str, Any] = {}

    def request_stop() -> None:
        # stop() waits for running tasks; do it off the signal handler so the main thread keeps waiting.
        worker = holder.get("worker")
        if worker is not None:
            threading.Thread(target=worker.stop, name="graflow-worker-stop", daemon=True).start()

    def on_signal(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if stop_requested.is_set():
            # No logging here: another thread may hold the logging lock, and this must not wait for anything.
            os.write(2, f"graflow worker: received {name} again: stopping now; unfinished tasks are redelivered "
                        f"after their lease\n".encode())
            os._exit(128 + signum)
        stop_requested.set()
        logger.info("Received %s: finishing running tasks (up to %.0fs)", name, args.graceful_shutdown_timeout)
        request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        # A malformed --redis-url is reported before any user module is imported.
        client = _redis_client(args)
        for module in args.imports:
            importlib.import_module(module)
        handlers = _load_handlers(args.handlers)
        signer = default_signer()
        ensure_transport_allowed(client, signer)
    except (ConfigError, ImportError, AttributeError) as exc:
        print(f"graflow worker: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        client.ping()
    except redis.RedisError as exc:
        print(f"graflow worker: cannot reach Redis: {exc}", file=sys.stderr)
        return EXIT_REDIS
    try:
        queue = DistributedTaskQueue(
            client,
            key_prefix=args.redis_key_prefix,
            signer=signer,
            lease_timeout=args.lease_timeout,
            max_deliveries=args.max_deliveries,
        )
        hooks, server = _observability(args, client, queue)
        worker = TaskWorker(
            queue,
            args.worker_id,
            max_concurrent_tasks=args.max_concurrent_tasks,
            poll_interval=args.poll_interval,
            graceful_shutdown_timeout=args.graceful_shutdown_timeout,
            tracer_config={"type": args.tracer},
            handlers=handlers,
            hooks=hooks,
            prefetch=None if args.prefetch is None else int(args.prefetch),
        )
        # This process is a worker and nothing else: cached graphs may leave the garbage collector's sight.
        worker.runner.graphs.freeze = True
    except ConfigError as exc:
        print(f"graflow worker: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    holder["worker"] = worker
    if stop_requested.is_set():  # stopped while starting up: never take a task
        if server is not None:
            server.stop()
        return EXIT_OK
    worker.start()
    if stop_requested.is_set():  # a signal while start() ran: its stop() had nothing to stop yet
        request_stop()
    try:
        worker.wait()
    finally:
        if server is not None:
            server.stop()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    return run_worker(build_parser().parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
