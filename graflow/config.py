"""Environment variables, read in one place.

Every ``GRAFLOW_*`` variable the library honours is listed here with its meaning. Values are read when asked for,
not at import, so tests and long-lived processes see changes.
"""

from __future__ import annotations

import os

ENV_VARS: dict[str, str] = {
    "GRAFLOW_RUN_STORE": "Record runs into this store (sqlite:///path, postgresql://..., memory://name).",
    "GRAFLOW_HOME": "Folder of Graflow's own files, e.g. the default run store runs.db (default ~/.graflow).",
    "GRAFLOW_RUN_HEARTBEAT_SECONDS": "Seconds between a recorded run's heartbeats (default 10); 3 missed: crashed.",
    "GRAFLOW_TEST_POSTGRES_URL": "PostgreSQL the run-store tests use (default postgresql://postgres@127.0.0.1/test).",
    "GRAFLOW_API_TOKENS": "Role tokens of graflow server: 'viewer:TOKEN,operator:TOKEN2' (any number of pairs).",
    "GRAFLOW_API_TOKEN": "Bearer token the HTTP API requires on every endpoint but /health (python -m graflow.api).",
    "GRAFLOW_API_ARGS": "Set by python -m graflow.api for its --workers/--reload processes: the parsed command line.",
    "GRAFLOW_SECRET_KEY": "HMAC secret (>= 32 bytes) that signs every payload crossing Redis.",
    "GRAFLOW_INSECURE": "Set to 1 to allow distributed runs on a non-loopback Redis without a secret.",
    "GRAFLOW_REDIS_URL": "Default Redis URL for workers and the CLI.",
    "GRAFLOW_LOG_FORMAT": "'json' for JSON-lines logs, 'text' (default) otherwise.",
    "GRAFLOW_LOG_LEVEL": "Log level for the CLI and workers (default INFO).",
    "GRAFLOW_TEST_REDIS_URL": "Redis used by the test suite (default redis://127.0.0.1:6379/15).",
    "GRAFLOW_REF_PYTHON": "Interpreter with graflow==0.2.0 for the comparison tests and benchmarks (unset: skipped).",
    "GRAFLOW_BENCH_CELERY_PYTHON": "Interpreter with celery[redis] for the distributed benchmark (unset: skipped).",
    "GRAFLOW_LLM_MODEL": "Model of the lazily created LLM client (default gpt-5-mini).",
    "GRAFLOW_PROMPTS_DIR": "Folder of the default YAML prompt manager (default ./prompts).",
    "GRAFLOW_METRICS_PORT": "Port of a worker's /metrics, /healthz and /readyz server (off when unset).",
    "GRAFLOW_METRICS_HOST": "Address that server binds to (default 127.0.0.1).",
    "GRAFLOW_LEASE_TIMEOUT": "Worker lease on a running task, in seconds, before another worker may reclaim it.",
    "GRAFLOW_MAX_DELIVERIES": "Deliveries of one task before it goes to the dead-letter stream.",
    "GRAFLOW_TRACER": "Worker tracer: noop, console, otel or langfuse.",
    "GRACEFUL_SHUTDOWN_TIMEOUT": "Seconds a worker waits for running tasks after SIGTERM (like the upstream flags).",
    "PROMETHEUS_MULTIPROC_DIR": "prometheus-client's folder for aggregating metrics of forked worker processes.",
    "LANGFUSE_PUBLIC_KEY": "Langfuse tracer and prompt manager: public key.",
    "LANGFUSE_SECRET_KEY": "Langfuse tracer and prompt manager: secret key.",
    "LANGFUSE_HOST": "Langfuse server URL.",
}


def env(name: str, default: str | None = None) -> str | None:
    """The value of environment variable ``name`` or ``default``."""
    return os.environ.get(name, default)


def env_flag(name: str) -> bool:
    """Whether ``name`` is set to a true value (1, true, yes, on)."""
    return (os.environ.get(name) or "").strip().lower() in {"1", "true", "yes", "on"}


def secret_key() -> bytes | None:
    """The signing secret from ``GRAFLOW_SECRET_KEY``, as bytes, or None."""
    value = os.environ.get("GRAFLOW_SECRET_KEY")
    return value.encode() if value else None


def insecure_allowed() -> bool:
    """Whether the user opted into unsigned distributed runs on a non-loopback Redis."""
    return env_flag("GRAFLOW_INSECURE")


def redis_url(default: str = "redis://localhost:6379/0") -> str:
    """The default Redis URL (``GRAFLOW_REDIS_URL``)."""
    return os.environ.get("GRAFLOW_REDIS_URL") or default


def log_format() -> str:
    """``json`` or ``text``."""
    return (os.environ.get("GRAFLOW_LOG_FORMAT") or "text").strip().lower()


def test_redis_url() -> str:
    """The Redis the test suite talks to."""
    return os.environ.get("GRAFLOW_TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
