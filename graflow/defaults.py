"""Tunables in one place. Change a default here, not in the module that uses it."""

from __future__ import annotations

import os

# Engine -------------------------------------------------------------------------------------------------------------
MAX_STEPS = 10_000
DEFAULT_MAX_CYCLES = 10  # through workflow()/ExecutionContext.create
CYCLE_CONTROLLER_MAX_CYCLES = 100  # CycleController's own default
DEFAULT_MAX_RETRIES = 0


def default_thread_count() -> int:
    """Pool size of the threading coordinator: ``min(32, cpu_count + 4)``."""
    return min(32, (os.cpu_count() or 1) + 4)


# Retries -------------------------------------------------------------------------------------------------------------
RETRY_INITIAL_INTERVAL = 1.0
RETRY_BACKOFF_FACTOR = 2.0
RETRY_MAX_INTERVAL = 60.0

# Redis / distributed -------------------------------------------------------------------------------------------------
REDIS_KEY_PREFIX = "graflow"
REDIS_URL = "redis://localhost:6379/0"
LEASE_TIMEOUT_SECONDS = 30.0
MAX_DELIVERIES = 5
RESULT_TTL_SECONDS = 7 * 24 * 3600
GRAPH_TTL_SECONDS = 86_400
GRAPH_CACHE_SIZE = 100
MIN_SECRET_BYTES = 32
SUBMIT_NO_WORKER_WARNING_SECONDS = 5.0  # a submitted run no worker has taken by then gets one warning

# Workers -------------------------------------------------------------------------------------------------------------
WORKER_MAX_CONCURRENT_TASKS = 4
WORKER_POLL_INTERVAL = 0.1
WORKER_GRACEFUL_SHUTDOWN_TIMEOUT = 30.0

# Checkpoints ---------------------------------------------------------------------------------------------------------
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_STALE_TEMP_SECONDS = 3600.0  # a temp file older than this, of a dead writer, is removed

# Metrics -------------------------------------------------------------------------------------------------------------
METRICS_MAX_TASK_LABELS = 1000  # distinct task labels PrometheusMetrics admits per registry; later ones go to "_other"

# Task handlers that run a task in another process --------------------------------------------------------------------
HANDLER_KILL_GRACE_SECONDS = 2.0  # a timed-out child gets SIGTERM, then SIGKILL after this long
HANDLER_STDERR_TAIL_LINES = 20  # stderr lines of a crashed child quoted in its error
DOCKER_IMAGE = "python:3.11-slim"
