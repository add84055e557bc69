"""Distributed throughput and latency: graflow workers vs graflow 0.2.0 workers vs Celery 5 (Redis broker).

For each system and task count, two worker processes serve one Redis; the producer runs trivial tasks and the
script prints one JSON line per measurement:

* ``throughput``: N trivial tasks as one parallel group on the Redis backend (graflow, both versions, same code:
  the API is compatible), or N ``apply_async`` calls gathered with their results (Celery, ``acks_late``). Reports
  tasks/s from dispatch to the last result, and the CPU time per task of the producer, of the workers together
  and of Redis (``cpu_us_per_task``): on a small machine their sum bounds the throughput (cores / CPU per task).
* ``latency``: at low load, one small group (or one Celery task) at a time; enqueue→start is the time from the
  producer dispatching to the task's first line. Reports p50/p95 in ms.

Every line says whether the system's interpreter has ``hiredis`` (redis-py's C reply parser, which redis-py uses
when installed). By default the script starts its own ``redis-server`` on a free loopback port, so other clients
of a shared Redis do not skew the figures; ``--redis-url`` uses an existing one.

    python benchmarks/distributed_throughput.py                       # graflow only, 2,000 and 20,000 tasks
    GRAFLOW_REF_PYTHON=/path/to/ref-venv/bin/python GRAFLOW_BENCH_CELERY_PYTHON=/path/to/celery-venv/bin/python \\
        python benchmarks/distributed_throughput.py --systems graflow,graflow-0.2.0,celery

The interpreters of the other systems come from ``GRAFLOW_REF_PYTHON`` (one with ``graflow==0.2.0``, see
docs/development.md) and ``GRAFLOW_BENCH_CELERY_PYTHON`` (one with ``celery[redis]``), or from ``--ref-python`` and
``--celery-python``. A system whose interpreter is not given is reported as one ``"status": "skipped"`` line.

The same file is the driver each interpreter runs (``--driver``), so it imports nothing from graflow at the top.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: Environment variables naming the interpreters of the systems compared with this graflow.
REF_PYTHON_VAR = "GRAFLOW_REF_PYTHON"
CELERY_PYTHON_VAR = "GRAFLOW_BENCH_CELERY_PYTHON"


def _hiredis() -> bool:
    """Whether redis-py in this interpreter parses replies with hiredis."""
    try:
        from redis.utils import HIREDIS_AVAILABLE
    except ImportError:
        return False
    return bool(HIREDIS_AVAILABLE)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- drivers (run inside the interpreter of the system under test) ---------------------------------------------------
def drive_graflow(args: argparse.Namespace) -> dict[str, Any]:
    import redis

    from graflow.coordination.coordinator import CoordinationBackend
    from graflow.core.context import ExecutionContext
    from graflow.core.decorators import task
    from graflow.core.task import ParallelGroup
    from graflow.core.workflow import workflow

    client = redis.Redis.from_url(args.redis_url)

    url, stamps = args.redis_url, f"{args.prefix}:started"

    def member(i: int) -> Any:
        if args.mode == "throughput":

            @task(id=f"t{i}")
            def started() -> float:
                return time.time()

            return started

        @task(id=f"t{i}")
        def stamped() -> None:
            now = time.time()  # first line: the start of the task
            import redis as redis_module

            redis_module.Redis.from_url(url).rpush(stamps, now)

        return stamped

    def run_group(n: int, name: str) -> tuple[float, Any, float, Any]:
        with workflow(name) as wf:
            group = ParallelGroup([member(i) for i in range(n)]).with_execution(backend=CoordinationBackend.REDIS)
        ctx = ExecutionContext.create(
            wf.graph,
            start_node=group.task_id,
            channel_backend="redis",
            config={"redis_client": client, "key_prefix": args.prefix},
        )
        began = time.time()
        t0 = time.perf_counter()
        result = ctx.execute()
        return began, result, time.perf_counter() - t0, ctx

    if args.mode == "throughput":
        cpu = time.process_time()
        _, result, elapsed, _ = run_group(args.tasks, "throughput")
        cpu = time.process_time() - cpu
        done = len(result) if isinstance(result, dict) else None
        return {"tasks": args.tasks, "seconds": elapsed, "completed": done, "cpu": cpu, "hiredis": _hiredis()}
    latencies = []
    for i in range(args.tasks):
        began, _, _, _ = run_group(2, f"latency{i}")
        first = min(float(v) for v in client.lrange(stamps, 0, -1))
        client.delete(stamps)
        latencies.append((first - began) * 1000)
    return {"latency_ms": latencies}


CELERY_APP = """
from celery import Celery
import time
app = Celery("graflow_bench", broker="{url}", backend="{url}")
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=4, result_expires=600,
                broker_connection_retry_on_startup=True)

@app.task
def started():
    return time.time()
"""


def drive_celery(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, args.celery_dir)
    from graflow_bench_tasks import started  # type: ignore[import-not-found]

    if args.mode == "throughput":
        cpu = time.process_time()
        t0 = time.perf_counter()
        results = [started.apply_async() for _ in range(args.tasks)]
        for r in results:
            r.get(timeout=600)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu
        return {"tasks": args.tasks, "seconds": seconds, "completed": len(results), "cpu": cpu, "hiredis": _hiredis()}
    latencies = []
    for _ in range(args.tasks):
        began = time.time()
        value = started.apply_async().get(timeout=60)
        latencies.append((value - began) * 1000)
    return {"latency_ms": latencies}


# -- orchestration ---------------------------------------------------------------------------------------------------
def start_workers(system: str, python: str, args: argparse.Namespace, prefix: str, celery_dir: str) -> list[Any]:
    env = {**os.environ}
    if system == "graflow":
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    elif system == "celery":
        env["PYTHONPATH"] = celery_dir
    else:
        env.pop("PYTHONPATH", None)  # the reference interpreter must see only its own graflow
    procs = []
    for i in range(args.workers):
        if system == "celery":
            cmd = [
                python,
                "-m",
                "celery",
                "-A",
                "graflow_bench_tasks",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(args.concurrency),
                "--loglevel",
                "WARNING",
                "-n",
                f"bench{i}@%h",
            ]
        else:
            from urllib.parse import urlsplit

            url = urlsplit(args.redis_url)
            cmd = [
                python,
                "-m",
                "graflow.worker.main",
                "--redis-host",
                url.hostname or "127.0.0.1",
                "--redis-port",
                str(url.port or 6379),
                "--redis-db",
                url.path.strip("/") or "0",
                "--redis-key-prefix",
                prefix,
                "--max-concurrent-tasks",
                str(args.concurrency),
                "--log-level",
                "WARNING",
            ]
        # Never start in the repository: `python -m` puts the working directory first on sys.path, and the
        # reference interpreter must import its own graflow.
        procs.append(
            subprocess.Popen(cmd, env=env, cwd=celery_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    time.sleep(args.warmup)  # let the workers import and connect before the clock starts
    return procs


def run_driver(
    system: str, python: str, args: argparse.Namespace, prefix: str, mode: str, tasks: int, celery_dir: str
) -> dict[str, Any]:
    env = {**os.environ}
    if system == "graflow":
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    else:
        env.pop("PYTHONPATH", None)
    cmd = [
        python,
        str(Path(__file__).resolve()),
        "--driver",
        "celery" if system == "celery" else "graflow",
        "--mode",
        mode,
        "--tasks",
        str(tasks),
        "--prefix",
        prefix,
        "--redis-url",
        args.redis_url,
        "--celery-dir",
        celery_dir,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout, cwd=celery_dir)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc (0.0 where /proc is unavailable)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu(redis_url: str) -> float:
    """CPU seconds the Redis server has used."""
    import redis

    info = redis.Redis.from_url(redis_url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class PrivateRedis:
    """A throwaway ``redis-server`` on a free loopback port (no persistence)."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        deadline = time.monotonic() + 30
        while True:  # until it answers, bounded by a deadline
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=1).ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def cleanup(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for pattern in (f"{prefix}*", "celery-task-meta-*", "_kombu*", "unacked*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
    if not prefix.startswith("bench-"):
        return
    client.delete("celery")


def skip_system(system: str, python: str | None) -> None:
    """Print the line that says why ``system`` is not measured."""
    variable, flag = (CELERY_PYTHON_VAR, "--celery-python") if system == "celery" else (REF_PYTHON_VAR, "--ref-python")
    reason = f"interpreter {python} not found" if python else f"{variable} is not set (or pass {flag})"
    print(json.dumps({"benchmark": "distributed_throughput", "system": system, "status": "skipped", "reason": reason}))


def measure(system: str, python: str, args: argparse.Namespace, celery_dir: str) -> None:
    for tasks in args.tasks:
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        workers = start_workers(system, python, args, prefix, celery_dir)
        try:
            workers_cpu, server_cpu = sum(process_cpu(p.pid) for p in workers), redis_cpu(args.redis_url)
            out = run_driver(system, python, args, prefix, "throughput", tasks, celery_dir)
            workers_cpu = sum(process_cpu(p.pid) for p in workers) - workers_cpu
            server_cpu = redis_cpu(args.redis_url) - server_cpu
            line: dict[str, Any] = {
                "benchmark": "distributed_throughput",
                "system": system,
                "tasks": tasks,
                "workers": args.workers,
                "concurrency": args.concurrency,
            }
            if "error" in out:
                line["error"] = out["error"]
            else:
                line.update(
                    seconds=round(out["seconds"], 3),
                    tasks_per_s=round(tasks / out["seconds"], 1),
                    completed=out["completed"],
                    cpu_us_per_task={
                        "producer": round(out["cpu"] / tasks * 1e6, 1),
                        "workers": round(workers_cpu / tasks * 1e6, 1),
                        "redis": round(server_cpu / tasks * 1e6, 1),
                    },
                    hiredis=out["hiredis"],
                )
            print(json.dumps(line), flush=True)
            if tasks == args.tasks[0]:
                lat = run_driver(system, python, args, prefix, "latency", args.latency_samples, celery_dir)
                row: dict[str, Any] = {
                    "benchmark": "distributed_latency",
                    "system": system,
                    "samples": args.latency_samples,
                }
                if "error" in lat:
                    row["error"] = lat["error"]
                else:
                    values = lat["latency_ms"]
                    row.update(p50_ms=round(statistics.median(values), 2), p95_ms=round(percentile(values, 0.95), 2))
                print(json.dumps(row), flush=True)
        finally:
            for proc in workers:
                proc.terminate()
            for proc in workers:
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
            cleanup(args.redis_url, prefix)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Distributed throughput benchmark")
    parser.add_argument("--driver", choices=("graflow", "celery"))
    parser.add_argument("--mode", choices=("throughput", "latency"), default="throughput")
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--celery-dir", default="")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("GRAFLOW_BENCH_REDIS_URL"),
        help="Redis to use (default: a private redis-server started for the run)",
    )
    parser.add_argument("--tasks", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--systems", default="graflow")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument(
        "--ref-python",
        default=os.environ.get(REF_PYTHON_VAR),
        help=f"interpreter with graflow==0.2.0 ({REF_PYTHON_VAR})",
    )
    parser.add_argument(
        "--celery-python",
        default=os.environ.get(CELERY_PYTHON_VAR),
        help=f"interpreter with celery[redis] ({CELERY_PYTHON_VAR})",
    )
    args = parser.parse_args(argv)
    if args.driver:
        args.tasks = args.tasks[0]
        result = drive_celery(args) if args.driver == "celery" else drive_graflow(args)
        print(json.dumps(result))
        return 0
    pythons = {"graflow": sys.executable, "graflow-0.2.0": args.ref_python, "celery": args.celery_python}
    server = PrivateRedis() if args.redis_url is None else None
    if server is not None:
        args.redis_url = server.url
    try:
        with tempfile.TemporaryDirectory() as celery_dir:
            (Path(celery_dir) / "graflow_bench_tasks.py").write_text(CELERY_APP.format(url=args.redis_url))
            for system in args.systems.split(","):
                python = pythons[system]
                if not python or not (Path(python).exists() or shutil.which(python)):
                    skip_system(system, python)
                    continue
                measure(system, python, args, celery_dir)
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
