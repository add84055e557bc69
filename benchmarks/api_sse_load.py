"""Server-Sent Events under load: 50 clients follow one run of 2,000 tasks through ``graflow server``; none may lose
or repeat an event.

Usage::

    python benchmarks/api_sse_load.py [--clients 50] [--tasks 2000] [--task-ms 1.0] [--reconnect-share 0.5]

Starts ``graflow server`` as a child process (an in-memory run store, this file's workflow), starts one run, and
connects every client while the run's first task holds for ``--warmup`` seconds, so the rest of the run is streamed
live. A share of the clients (``--reconnect-share``) drop their connection half way and reconnect with
``Last-Event-ID``. When the run has finished, the same number of new clients replay the whole run at once.

Every client checks what it got: ids 1..N without a gap or a repeat, ending with ``run.finished``. One JSON object
per line: ``live`` (delivery latency from an event's time to its arrival, p50/p99/max in ms; events delivered per
second while the run went on) and ``replay`` (time to replay the whole run to every new client at once).
Figures depend on the machine; the lost/duplicate counts must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

#: Environment of the served workflow (the server loads this file as a module; a factory takes no arguments).
TASKS_ENV, TASK_MS_ENV, WARMUP_ENV = "GRAFLOW_BENCH_SSE_TASKS", "GRAFLOW_BENCH_SSE_TASK_MS", "GRAFLOW_BENCH_SSE_WARMUP"


def sse_load_workflow() -> Any:
    """``warmup >> step_1 >> ... >> step_{n-1}``: the first task holds while clients connect; each step takes
    ``GRAFLOW_BENCH_SSE_TASK_MS`` milliseconds."""
    from graflow import task, workflow

    count = int(os.environ.get(TASKS_ENV, "2000"))
    pause = float(os.environ.get(TASK_MS_ENV, "1.0")) / 1000.0
    warmup = float(os.environ.get(WARMUP_ENV, "2.0"))
    with workflow("sse_load") as wf:
        previous = task("warmup")(lambda: time.sleep(warmup))
        for index in range(1, count):
            current = task(f"step_{index}")(lambda: time.sleep(pause))
            previous >> current
            previous = current
    return wf


class Server:
    """``graflow server`` serving :func:`sse_load_workflow` on a free port."""

    def __init__(self, args: argparse.Namespace) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {**os.environ, TASKS_ENV: str(args.tasks), TASK_MS_ENV: str(args.task_ms), WARMUP_ENV: str(args.warmup),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        for name in ("GRAFLOW_API_TOKEN", "GRAFLOW_API_TOKENS"):
            env.pop(name, None)
        spec = f"{Path(__file__).resolve()}:sse_load_workflow"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graflow.cli.main", "server", "--app", spec,
             "--port", str(self.port), "--store", "memory://bench", "--log-level", "warning", "--no-resume",
             "--feedback-dir", str(Path(os.environ.get("TMPDIR", "/tmp")) / "graflow-bench-feedback")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(60) or self.process.poll() is not None:
            raise SystemExit("the server did not start")
        self.url = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("Graflow API on"):
                self.ready.set()
        self.ready.set()

    def cpu_seconds(self) -> float | None:
        """CPU time the server process has used so far (Linux), else None."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


async def follow(client: Any, run_id: str, *, drop_after: int | None = None) -> dict[str, Any]:
    """Read a run's events to the end; with ``drop_after``, disconnect after that many and resume with Last-Event-ID."""
    ids: list[int] = []
    latencies: list[float] = []
    last_event = ""
    headers: dict[str, str] = {}
    while True:
        async with client.stream("GET", f"/api/runs/{run_id}/events", headers=headers) as response:
            fields: dict[str, str] = {}
            dropped = False
            async for line in response.aiter_lines():
                if line:
                    if not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        fields[name] = value
                    continue
                if "event" in fields:
                    ids.append(int(fields["id"]))
                    latencies.append(time.time() - json.loads(fields["data"])["at"])
                    last_event = fields["event"]
                    if drop_after is not None and len(ids) == drop_after:
                        dropped = True
                        break
                fields = {}
        if not dropped:
            return {"ids": ids, "latencies": latencies, "last": last_event, "reconnected": drop_after is not None}
        headers = {"Last-Event-ID": str(ids[-1])}
        drop_after = None


def check(results: list[dict[str, Any]]) -> dict[str, int]:
    """Count lost and repeated events over all clients (each must see 1..N once, ending with run.finished)."""
    expected = max(max(r["ids"]) for r in results)
    lost = sum(len(set(range(1, expected + 1)) - set(r["ids"])) for r in results)
    duplicates = sum(len(r["ids"]) - len(set(r["ids"])) for r in results)
    unfinished = sum(r["last"] != "run.finished" for r in results)
    return {"events_per_client": expected, "lost": lost, "duplicates": duplicates, "unfinished_clients": unfinished}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def cpu(server: Server, before: tuple[float, float | None]) -> dict[str, Any]:
    """CPU seconds spent by this process (the clients) and by the server since ``before``."""
    server_now = server.cpu_seconds()
    used = None if server_now is None or before[1] is None else round(server_now - before[1], 3)
    return {"client_cpu_seconds": round(time.process_time() - before[0], 3), "server_cpu_seconds": used}


async def measure(args: argparse.Namespace, server: Server) -> None:
    import httpx

    limits = httpx.Limits(max_connections=args.clients * 2 + 10, max_keepalive_connections=args.clients * 2 + 10)
    async with httpx.AsyncClient(base_url=server.url, timeout=None, limits=limits) as client:
        started = await client.post("/api/workflows/sse_load/runs", json={"max_steps": args.tasks + 10})
        run_id = started.json()["run_id"]
        began, cpu_before = time.perf_counter(), (time.process_time(), server.cpu_seconds())
        drop = int(args.clients * args.reconnect_share)
        live = await asyncio.gather(*(
            follow(client, run_id, drop_after=args.tasks if index < drop else None) for index in range(args.clients)
        ))  # fmt: skip
        live_seconds = time.perf_counter() - began
        latencies = [value for result in live for value in result["latencies"]]
        delivered = sum(len(result["ids"]) for result in live)
        print(json.dumps({
            "benchmark": "api_sse_load", "phase": "live", "clients": args.clients, "tasks": args.tasks,
            "task_ms": args.task_ms, "reconnected_clients": drop, **check(live),
            "latency_ms_p50": round(1000 * statistics.median(latencies), 2),
            "latency_ms_p99": round(1000 * percentile(latencies, 0.99), 2),
            "latency_ms_max": round(1000 * max(latencies), 2),
            "seconds": round(live_seconds, 3), "events_delivered": delivered,
            "events_per_second": round(delivered / live_seconds), **cpu(server, cpu_before),
        }), flush=True)  # fmt: skip
        began, cpu_before = time.perf_counter(), (time.process_time(), server.cpu_seconds())
        replay = await asyncio.gather(*(follow(client, run_id) for _ in range(args.clients)))
        replay_seconds = time.perf_counter() - began
        delivered = sum(len(result["ids"]) for result in replay)
        print(json.dumps({
            "benchmark": "api_sse_load", "phase": "replay", "clients": args.clients, "tasks": args.tasks,
            **check(replay), "seconds": round(replay_seconds, 3), "events_delivered": delivered,
            "events_per_second": round(delivered / replay_seconds), **cpu(server, cpu_before),
        }), flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--task-ms", type=float, default=1.0, help="duration of each task (default 1 ms)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds the first task holds while clients join")
    parser.add_argument("--reconnect-share", type=float, default=0.5,
                        help="share of the live clients that reconnect with Last-Event-ID half way")
    args = parser.parse_args(argv)
    server = Server(args)
    try:
        asyncio.run(measure(args, server))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
