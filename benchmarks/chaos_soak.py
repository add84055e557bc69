"""Chaos soak: 20,000 tasks on worker processes that are killed at random, and one Redis restart.

It starts its own ``redis-server`` (AOF on, ``appendfsync always``) on a free loopback port, several
``python -m graflow.worker.main`` processes, and dispatches the tasks as groups of members (one barrier each).
While they run it kills a random worker with SIGKILL every few seconds (and starts a replacement), and restarts
Redis once. It passes only if every task completed, no completion was counted twice, every stored result is the
value of the task, and nothing was dead-lettered. It prints one JSON line and exits 0 on success, 1 otherwise.

    python benchmarks/chaos_soak.py                # 20,000 tasks, a few minutes
    python benchmarks/chaos_soak.py --tasks 2000   # a quick run
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Redis:
    """A private redis-server with AOF, restartable on the same port."""

    def __init__(self, workdir: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", self.workdir, "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 30
        while True:  # wait until it answers (and has loaded its AOF)
            try:
                if client.ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def build_graph(members: int) -> Any:
    from graflow.core.graph import TaskGraph
    from graflow.core.task import TaskWrapper

    graph = TaskGraph()

    def member(i: int) -> Any:
        def square() -> int:
            time.sleep(random.random() * 0.004)  # a little work, so kills land mid-task
            return i * i

        return TaskWrapper(f"t{i}", square, register_to_context=False)

    for i in range(members):
        graph.add_node(member(i), f"t{i}")
    return graph


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chaos soak of distributed execution")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--group-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease-timeout", type=float, default=2.0)
    parser.add_argument("--kill-every", type=float, default=3.0, help="mean seconds between worker kills")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    random.seed(args.seed)

    import redis

    from graflow.channels.redis_channel import RedisChannel
    from graflow.distributed.barrier import GroupBarrier
    from graflow.distributed.queue import DistributedTaskQueue
    from graflow.distributed.records import SerializedTaskRecord
    from graflow.worker.inprocess import spawn_worker

    workdir = tempfile.mkdtemp(prefix="graflow-soak-")
    server = Redis(workdir)
    server.start()
    client = redis.Redis.from_url(server.url)
    prefix = "soak"
    worker_args = [
        "--concurrency",
        str(args.concurrency),
        "--lease-timeout",
        str(args.lease_timeout),
        "--max-deliveries",
        "1000",
        "--log-level",
        "ERROR",
    ]
    workers = [spawn_worker(server.url, prefix, extra_args=worker_args) for _ in range(args.workers)]
    stats = {"kills": 0, "redis_restarts": 0}
    stop = threading.Event()
    started = time.perf_counter()
    try:
        queue = DistributedTaskQueue(client, key_prefix=prefix)
        group_size = min(args.group_size, args.tasks)
        graph_hash = queue.graph_store.save(build_graph(group_size))
        barriers: list[tuple[GroupBarrier, list[str]]] = []
        remaining = args.tasks
        while remaining > 0:
            size = min(group_size, remaining)
            remaining -= size
            session = f"soak-{len(barriers)}"
            barrier = GroupBarrier(client, prefix, session)
            members = [f"t{i}" for i in range(size)]
            barrier.arm(size)
            queue.stream.enqueue_many(
                [
                    SerializedTaskRecord(
                        task_id=m,
                        session_id=session,
                        graph_hash=graph_hash,
                        trace_id=session,
                        created_at=time.time(),
                        group_id=session,
                    )
                    for m in members
                ]
            )
            barriers.append((barrier, members))

        def chaos() -> None:
            restart_after = args.tasks * 0.4
            while not stop.wait(random.expovariate(1 / args.kill_every)):
                victim = random.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                workers[victim] = spawn_worker(server.url, prefix, extra_args=worker_args)
                stats["kills"] += 1
                try:
                    done = sum(b.completed_count() for b, _ in barriers)
                except redis.RedisError:
                    continue
                if not stats["redis_restarts"] and done >= restart_after:
                    server.stop()
                    server.start()
                    stats["redis_restarts"] += 1

        chaos_thread = threading.Thread(target=chaos, daemon=True)
        chaos_thread.start()
        deadline = time.monotonic() + args.timeout
        completions: dict[str, dict[str, Any]] = {}
        for barrier, members in barriers:
            done = barrier.wait(members, timeout=max(1.0, deadline - time.monotonic()))
            completions.update({f"{barrier.barrier_id}/{m}": c for m, c in done.items()})
        elapsed = time.perf_counter() - started
        stop.set()
        chaos_thread.join()

        # Verify: every member once, successful, with the right result; nothing dead-lettered.
        wrong = failed = 0
        for barrier, members in barriers:
            channel = RedisChannel(barrier.barrier_id, redis_client=client, key_prefix=prefix)
            for member in members:
                completion = completions[f"{barrier.barrier_id}/{member}"]
                failed += not completion["success"]
                value = channel.get_result(member)
                wrong += value != int(member[1:]) ** 2
        counted = sum(b.completed_count() for b, _ in barriers)
        dead = queue.stream.counts()["dead"]
        line = {
            "benchmark": "chaos_soak",
            "tasks": args.tasks,
            "completed": len(completions),
            "counted": counted,
            "failed": failed,
            "wrong_results": wrong,
            "dead_lettered": dead,
            "seconds": round(elapsed, 1),
            "tasks_per_s": round(args.tasks / elapsed, 1),
            "worker_kills": stats["kills"],
            "redis_restarts": stats["redis_restarts"],
            "workers": args.workers,
        }
        line["passed"] = (
            len(completions) == counted == args.tasks
            and failed == 0
            and wrong == 0
            and dead == 0
            and stats["redis_restarts"] == 1
        )
        print(json.dumps(line), flush=True)
        return 0 if line["passed"] else 1
    finally:
        stop.set()
        for proc in workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in workers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
