"""Distributed execution on Redis: a parallel group on workers, then a whole workflow on workers.

Needs a Redis server (``GRAFLOW_REDIS_URL``, default ``redis://127.0.0.1:6379/0``) and ``pip install graflow[redis]``.
Workers run in this process by default; ``--worker-processes 2`` starts two ``python -m graflow.worker.main``
processes instead, the way production runs them. With a Redis that is not on this machine, set the same
``GRAFLOW_SECRET_KEY`` (32+ bytes) for this script and the workers.

    python examples/distributed_workflow.py
    python examples/distributed_workflow.py --worker-processes 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from typing import Any

from graflow import task, workflow
from graflow.coordination.coordinator import CoordinationBackend
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.distributed.submit import submit_workflow
from graflow.utils.redis_utils import redis_from_url
from graflow.worker.inprocess import run_workers, spawn_worker


def build_workflow() -> Any:
    """Three sources read in parallel on the workers, then aggregated."""
    with workflow("distributed_etl") as wf:

        def source(number: int, records: int) -> Any:
            @task(id=f"source_{number}")
            def read() -> int:
                print(f"Source {number}: {records} records (pid {os.getpid()})")
                return records

            return read

        @task(inject_context=True)
        def aggregate(ctx: Any) -> int:
            total = sum(ctx.get_result(f"source_{n}") for n in (1, 2, 3))
            print(f"Total aggregated: {total} records")
            return total

        sources = (source(1, 1000) | source(2, 1100) | source(3, 1200)).with_execution(
            backend=CoordinationBackend.REDIS
        )
        sources >> aggregate
    return wf


@contextlib.contextmanager
def workers(client: Any, url: str, prefix: str, processes: int) -> Iterator[None]:
    if processes <= 0:
        with run_workers(client, prefix, count=2):
            yield
        return
    children = [spawn_worker(url, prefix, extra_args=["--log-level", "WARNING"]) for _ in range(processes)]
    try:
        yield
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("GRAFLOW_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--worker-processes", type=int, default=0, help="0 runs two workers in this process")
    args = parser.parse_args(argv)

    client = redis_from_url(args.redis_url)
    prefix = f"example-{uuid.uuid4().hex[:8]}"  # a private prefix: the example never touches other keys
    wf = build_workflow()
    try:
        with workers(client, args.redis_url, prefix, args.worker_processes):
            # 1. Upstream's way: the producer runs the workflow; only the REDIS group goes to the workers.
            ctx = ExecutionContext.create(
                wf.graph, channel_backend="redis", config={"redis_client": client, "key_prefix": prefix}
            )
            result = WorkflowEngine().execute(ctx)
            print(f"Group on workers, result: {result}")

            # 2. The whole workflow on the workers; the result comes back through Redis.
            whole = submit_workflow(wf, redis_client=client, key_prefix=prefix, timeout=120)
            print(f"Whole workflow on workers, result: {whole}")
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    ok = result == whole == 3300
    print("✅ Distributed workflow completed" if ok else "❌ Unexpected result")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
