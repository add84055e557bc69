"""Cost of the observability hooks on the local linear chain, as ratios against a run without hooks.

Usage::

    python benchmarks/hooks_overhead.py [--n 2000] [--runs 7] [--configs metrics,logging] [--clock cpu]

Prints one JSON object per configuration: ``none`` (no hooks), ``metrics`` (MetricsHook on Prometheus),
``metrics_inmemory`` (MetricsHook on the in-memory collector), ``logging`` (LoggingHook), ``metrics_logging``,
``otel`` (OtelTracer, SDK provider with a simple processor and the in-memory exporter) and ``otel_no_graph``
(the same without the runtime graph). Configurations are run interleaved, round after round, so that drifts of the
machine hit all of them alike; the figure is the median of the rounds, and ``ratio`` is it over ``none``'s.
``--clock cpu`` times with the thread's CPU time instead of the wall clock (the chain runs on the calling thread),
which leaves out the time other processes of a shared machine take from it.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graflow.core.hooks import EngineHook

_calls = itertools.count()


def trivial() -> None:
    """The task body: as cheap as a task can be, so that the engine and the hooks dominate."""
    next(_calls)


class EmptyTaskHook(EngineHook):
    """Listens to task start and end and does nothing: the engine's dispatch cost alone."""

    def on_task_start(self, *, task: Any, context: Any) -> None:
        return None

    def on_task_end(self, *, task: Any, context: Any, result: Any = None, error: Any = None) -> None:
        return None


def build(name: str, n: int, tracer: Any = None, hooks: list[Any] | None = None) -> Any:
    """A workflow ``t0 >> t1 >> ... >> t{n-1}`` of trivial tasks (all named ``trivial``: one label set)."""
    from graflow.core.task import TaskWrapper
    from graflow.core.workflow import workflow

    with workflow(name, tracer=tracer, hooks=hooks) as wf:
        tasks = [TaskWrapper(f"t{i}", trivial) for i in range(n)]
        for a, b in itertools.pairwise(tasks):
            a >> b
    return wf


def configurations(n: int) -> dict[str, tuple[Any, Callable[[], None]]]:
    """Name -> (workflow, reset callback run before each round)."""
    from prometheus_client import CollectorRegistry

    from graflow.observability.logging import LoggingHook
    from graflow.observability.metrics import InMemoryMetricsCollector, MetricsHook

    configs: dict[str, tuple[Any, Callable[[], None]]] = {}

    def nothing() -> None:
        return None

    configs["none"] = (build("none", n), nothing)
    # The floor: what the engine's hook dispatch costs with a hook that does nothing on task start and end.
    configs["empty_hook"] = (build("empty_hook", n, hooks=[EmptyTaskHook()]), nothing)
    configs["metrics"] = (build("metrics", n, hooks=[MetricsHook(registry=CollectorRegistry())]), nothing)
    memory = InMemoryMetricsCollector()

    def reset_memory() -> None:
        memory.task_durations.clear()

    configs["metrics_inmemory"] = (build("metrics_inmemory", n, hooks=[MetricsHook(memory)]), reset_memory)
    configs["logging"] = (build("logging", n, hooks=[LoggingHook()]), nothing)
    configs["metrics_logging"] = (
        build("metrics_logging", n, hooks=[MetricsHook(registry=CollectorRegistry()), LoggingHook()]),
        nothing,
    )
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from graflow.trace.otel import OtelTracer
    except ImportError:
        return configs
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # A tracer per run, as a real caller would make one per workflow (the runtime graph grows per tracer).
    tracers = {"otel": lambda: OtelTracer(tracer_provider=provider),
               "otel_no_graph": lambda: OtelTracer(enable_runtime_graph=False, tracer_provider=provider)}
    for name, make in tracers.items():
        wf = build(name, n, tracer=make())

        def reset(wf: Any = wf, make: Callable[[], Any] = make) -> None:
            exporter.clear()
            wf._tracer = make()

        configs[name] = (wf, reset)
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="tasks in the chain")
    parser.add_argument("--runs", type=int, default=7, help="rounds (each runs every configuration once)")
    parser.add_argument("--configs", default="", help="comma-separated subset of configurations (none is kept)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="wall clock or thread CPU time")
    args = parser.parse_args()

    configs = configurations(args.n)
    if args.configs:
        wanted = {"none", *(name.strip() for name in args.configs.split(","))}
        unknown = wanted - set(configs)
        if unknown:
            parser.error(f"unknown configurations: {', '.join(sorted(unknown))}; have {', '.join(configs)}")
        configs = {name: entry for name, entry in configs.items() if name in wanted}
    for wf, reset in configs.values():  # warm-up: imports, caches, label children
        reset()
        wf.execute("t0", max_steps=args.n + 10)
    times: dict[str, list[float]] = {name: [] for name in configs}
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    for _ in range(args.runs):
        for name, (wf, reset) in configs.items():
            reset()
            gc.collect()
            start = clock()
            wf.execute("t0", max_steps=args.n + 10)
            times[name].append(clock() - start)
    base = statistics.median(times["none"])
    for name, samples in times.items():
        median = statistics.median(samples)
        print(json.dumps({
            "benchmark": "hooks_overhead",
            "workload": "linear",
            "n": args.n,
            "runs": args.runs,
            "config": name,
            "median_seconds": round(median, 6),
            "best_seconds": round(min(samples), 6),
            "per_task_us": round(median / args.n * 1e6, 2),
            "ratio": round(median / base, 3),
            "clock": args.clock,
            "python": sys.version.split()[0],
        }))


if __name__ == "__main__":
    main()
