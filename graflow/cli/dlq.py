"""``graflow dlq list|show|requeue|purge`` over the dead-letter stream, and ``graflow workers``.

Both read the keys of one prefix (``docs/redis-keys.md``): dead letters live in the stream ``{prefix}:dead``, and
the live workers are the consumers of the group ``graflow-workers`` on ``{prefix}:tasks``. Workers keep no record
of their own in Redis, so what ``graflow workers`` shows is what the consumer group knows: the consumer name (the
worker id and a suffix per start), the entries it holds, and how long ago it last read or renewed a lease.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from graflow import config, defaults

#: Exit codes: done, Redis unreachable or an unknown dead letter, usage error (bad URL, unsafe transport).
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: A dead letter id is a stream entry id; anything else given to show/requeue/purge is a task id.
ENTRY_ID = re.compile(r"^\d+-\d+$")
#: A worker's consumer name is its worker id and a suffix per start (``TaskWorker.consumer``).
CONSUMER_SUFFIX = re.compile(r"^(?P<worker>.+)-[0-9a-f]{6}$")
#: Attempts of a requeue whose dead-letter stream changed under it (workers add dead letters concurrently).
REQUEUE_ATTEMPTS = 20
DETAIL_WIDTH = 60

F = TypeVar("F", bound=Callable[..., Any])

DLQ_HELP = """Inspect and handle dead-lettered tasks (the stream PREFIX:dead).

A task is dead-lettered after --max-deliveries deliveries without an acknowledgement (its workers died), or when
its payload fails verification or decoding, or its graph is missing or corrupt. Its group was told it failed at
that moment. `requeue` puts the original payload back on the task stream with a fresh delivery budget, once the
cause is fixed (a graph stored again, the right GRAFLOW_SECRET_KEY, a bug fixed in a worker). IDs are dead-letter
ids (as `list` shows them) or task ids (the newest dead letter of that task).

\b
Examples:
  graflow dlq list --redis-url redis://localhost:6379/0
  graflow dlq show 1718000000000-0
  graflow dlq requeue --reason graph_missing
  graflow dlq purge --yes
"""


def redis_options(func: F) -> F:
    """``--redis-url`` and ``--redis-key-prefix``, with the environment fallbacks of ``graflow worker``."""
    func = click.option(
        "--redis-key-prefix", "prefix", default=None, metavar="PREFIX",
        help=f"key prefix of the deployment (REDIS_KEY_PREFIX; default {defaults.REDIS_KEY_PREFIX})",
    )(func)
    decorated: F = click.option("--redis-url", "url", default=None, metavar="URL",
                                help="redis://, rediss:// or unix:// URL (GRAFLOW_REDIS_URL; default "
                                     "redis://localhost:6379/0)")(func)
    return decorated


class Connection:
    """The client and the stream queue of one prefix, or a one-line failure and the exit code."""

    def __init__(self, ctx: click.Context, url: str | None, prefix: str | None) -> None:
        import redis

        from graflow.distributed.streams import RedisStreamQueue
        from graflow.exceptions import ConfigError
        from graflow.utils.redis_utils import redis_from_url, safe_redis_url

        self.url = url or config.redis_url()
        self.prefix = prefix or config.env("REDIS_KEY_PREFIX") or defaults.REDIS_KEY_PREFIX
        try:
            self.client = redis_from_url(self.url)
            self.queue = RedisStreamQueue(self.client, self.prefix)  # refuses unsigned traffic off loopback (D20)
        except ConfigError as exc:
            fail(ctx, str(exc), EXIT_USAGE)
        try:
            self.client.ping()
        except redis.RedisError as exc:
            fail(ctx, f"cannot reach Redis at {safe_redis_url(self.url)}: {exc}", EXIT_FAILED)
        self.binary: Any = self.queue.redis


@click.group("dlq", help=DLQ_HELP, short_help="list, show, requeue or purge dead-lettered tasks")
def dlq() -> None:
    pass


@dlq.command("list", help="List dead letters, newest first.")
@redis_options
@click.option("--reason", default=None, help="only this reason (max_deliveries, graph_missing, bad_signature ...)")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="most dead letters shown")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.pass_context
def list_command(ctx: click.Context, url: str | None, prefix: str | None, reason: str | None, limit: int,
                 as_json: bool) -> None:
    conn = Connection(ctx, url, prefix)
    rows = [r for r in conn.queue.dead_letters(limit=limit if reason is None else 100_000)
            if reason is None or r.get("reason") == reason][:limit]
    if as_json:
        click.echo(json.dumps([plain(row) for row in rows], indent=2))
        return
    if not rows:
        click.echo(f"No dead letters in {conn.queue.dead_key}.")
        return
    click.echo(table(["ID", "TASK", "GROUP", "REASON", "DELIVERIES", "DEAD AT", "DETAIL"], [
        [r["dead_letter_id"], r.get("task_id") or "-", r.get("group_id") or "-", r.get("reason") or "-",
         str(r["deliveries"]), when(r.get("dead_at")), shorten(r.get("detail") or "")]
        for r in rows
    ]))


@dlq.command("show", help="Show one dead letter: every field, and the task record when the payload verifies.")
@click.argument("dead_letter")
@redis_options
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def show_command(ctx: click.Context, dead_letter: str, url: str | None, prefix: str | None, as_json: bool) -> None:
    conn = Connection(ctx, url, prefix)
    row = find(ctx, conn, dead_letter)
    shown = {**plain(row), "record": record_of(conn, row["payload"])}
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    for key in ("dead_letter_id", "task_id", "group_id", "reason", "detail", "deliveries", "consumer", "entry_id"):
        click.echo(f"{key + ':':16}{shown.get(key) or '-'}")
    click.echo(f"{'dead_at:':16}{when(row.get('dead_at'))}")
    record = shown["record"]
    if isinstance(record, dict):
        click.echo("record:")
        for key, value in record.items():
            click.echo(f"  {key + ':':16}{value}")
    else:
        click.echo(f"{'record:':16}{record}")


@dlq.command("requeue", help="Put dead-lettered tasks back on the task stream, with a fresh delivery budget.")
@click.argument("dead_letters", nargs=-1)
@redis_options
@click.option("--all", "everything", is_flag=True, help="requeue every dead letter (or every one with --reason)")
@click.option("--reason", default=None, help="requeue the dead letters with this reason")
@click.pass_context
def requeue_command(ctx: click.Context, dead_letters: tuple[str, ...], url: str | None, prefix: str | None,
                    everything: bool, reason: str | None) -> None:
    conn = Connection(ctx, url, prefix)
    rows = selection(ctx, conn, dead_letters, everything, reason, "requeue")
    if not rows:
        click.echo(f"No dead letters to requeue in {conn.queue.dead_key}.")
    gone = 0
    for row in rows:
        entry = requeue(conn, row["dead_letter_id"])
        if entry is None:
            gone += 1
            click.echo(f"{ctx.command_path}: dead letter {row['dead_letter_id']} is gone (requeued or purged "
                       "meanwhile)", err=True)
            continue
        task_id = row.get("task_id") or "?"
        click.echo(f"requeued task '{task_id}' (dead letter {row['dead_letter_id']}) as entry {entry}")
        warn_if_group_settled(conn, row)
    ctx.exit(EXIT_FAILED if gone else EXIT_OK)


@dlq.command("purge", help="Delete dead letters: all of them, those given, or those with --reason. Asks first.")
@click.argument("dead_letters", nargs=-1)
@redis_options
@click.option("--reason", default=None, help="delete only the dead letters with this reason")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@click.pass_context
def purge_command(ctx: click.Context, dead_letters: tuple[str, ...], url: str | None, prefix: str | None,
                  reason: str | None, yes: bool) -> None:
    conn = Connection(ctx, url, prefix)
    dead_key = conn.queue.dead_key
    if not dead_letters and reason is None:
        count = int(conn.binary.xlen(dead_key))
        if count and not yes:
            click.confirm(f"Delete all {count} dead letters of {dead_key}?", abort=True)
        conn.binary.delete(dead_key)
    else:
        ids = [r["dead_letter_id"] for r in selection(ctx, conn, dead_letters, False, reason, "purge")]
        if ids and not yes:
            click.confirm(f"Delete {len(ids)} dead letter(s) of {dead_key}?", abort=True)
        count = int(conn.binary.xdel(dead_key, *ids)) if ids else 0
    click.echo(f"deleted {count} dead letter(s) from {dead_key}")


# -- workers -------------------------------------------------------------------------------------------------------
WORKERS_HELP = """List the workers of a deployment: the consumers of the task stream's group.

LAST SEEN is how long ago the worker last read the stream or renewed a lease: a running worker does either at least
every lease/3 seconds, so one silent for longer than --stale-after is taken for dead (its tasks are reclaimed after
their lease). IN-FLIGHT counts the tasks it holds (running or fetched ahead). Workers do not publish their version.
"""


@click.command("workers", help=WORKERS_HELP, short_help="list live workers, their last activity and in-flight tasks")
@redis_options
@click.option("--stale-after", type=click.FloatRange(min=0), default=defaults.LEASE_TIMEOUT_SECONDS,
              show_default=True, help="seconds of silence after which a worker counts as gone")
@click.option("--all", "everything", is_flag=True, help="also list consumers silent for longer (dead workers)")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.pass_context
def workers(ctx: click.Context, url: str | None, prefix: str | None, stale_after: float, everything: bool,
            as_json: bool) -> None:
    conn = Connection(ctx, url, prefix)
    found = consumers(conn, stale_after)
    shown = found if everything else [w for w in found if w["live"]]
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    if not shown:
        stale = len(found) - len(shown)
        click.echo("No live workers." + (f" ({stale} silent consumer(s): --all lists them)" if stale else ""))
        return
    click.echo(table(["WORKER", "CONSUMER", "STATUS", "LAST SEEN", "IN-FLIGHT", "TASKS"], [
        [w["worker_id"], w["consumer"], "live" if w["live"] else "stale", f"{w['idle_seconds']:.1f}s ago",
         str(w["in_flight"]), shorten(", ".join(w["tasks"]), 40) or "-"]
        for w in shown
    ]))


def consumers(conn: Connection, stale_after: float) -> list[dict[str, Any]]:
    """The group's consumers, most recently active first, with the ids of the tasks each holds."""
    import redis

    stream_key, group = conn.queue.stream_key, conn.queue.group
    try:
        infos = conn.binary.xinfo_consumers(stream_key, group)
    except redis.ResponseError:  # no stream or no group yet: no worker ever started on this prefix
        return []
    held: dict[str, list[str]] = {}
    for row in conn.queue.running(limit=10_000):
        held.setdefault(row["consumer"], []).append(row["task_id"])
    out = []
    for info in infos:
        name = text(info["name"])
        idle = int(info["idle"]) / 1000.0
        match = CONSUMER_SUFFIX.match(name)
        out.append({
            "worker_id": match.group("worker") if match else name,
            "consumer": name,
            "live": idle <= stale_after,
            "idle_seconds": idle,
            "in_flight": int(info["pending"]),
            "tasks": held.get(name, []),
        })
    return sorted(out, key=lambda w: w["idle_seconds"])


# -- dead letters ----------------------------------------------------------------------------------------------------
def find(ctx: click.Context, conn: Connection, key: str) -> dict[str, Any]:
    """The dead letter with this dead-letter id, or the newest one of this task id; exits 1 when there is none."""
    by_id = ENTRY_ID.match(key) is not None
    if by_id:
        entries = conn.binary.xrange(conn.queue.dead_key, key, key)
        if entries:
            entry_id, fields = entries[0]
            row: dict[str, Any] = {text(k): (v if k == b"payload" else text(v)) for k, v in fields.items()}
            row["dead_letter_id"] = text(entry_id)
            row["deliveries"] = int(row.get("deliveries") or 0)
            return row
    else:
        for row in conn.queue.dead_letters(limit=100_000):  # newest first
            if row.get("task_id") == key:
                return row
    fail(ctx, f"no dead letter {'with id' if by_id else 'for task'} '{key}' in {conn.queue.dead_key}", EXIT_FAILED)
    raise AssertionError  # unreachable: fail() exits


def selection(ctx: click.Context, conn: Connection, keys: tuple[str, ...], everything: bool, reason: str | None,
              verb: str) -> list[dict[str, Any]]:
    """The dead letters a requeue or purge names: by id or task id, or all (with ``reason``), oldest first."""
    if keys and (everything or reason):
        fail(ctx, f"give dead-letter ids or --all/--reason to {verb}, not both", EXIT_USAGE)
    if keys:
        return [find(ctx, conn, key) for key in dict.fromkeys(keys)]
    if not everything and reason is None:
        fail(ctx, f"name the dead letters to {verb} (ids or task ids), or use --all or --reason", EXIT_USAGE)
    rows = conn.queue.dead_letters(limit=100_000)
    return [r for r in reversed(rows) if reason is None or r.get("reason") == reason]


def requeue(conn: Connection, dead_letter_id: str) -> str | None:
    """Move one dead letter's payload back onto the task stream and delete it, atomically (WATCH/MULTI).

    Returns:
        The new stream entry id, or None when the dead letter no longer exists.
    """
    import redis

    dead_key, stream_key = conn.queue.dead_key, conn.queue.stream_key
    with conn.binary.pipeline(transaction=True) as pipe:
        for _ in range(REQUEUE_ATTEMPTS):
            try:
                pipe.watch(dead_key)
                entries = pipe.xrange(dead_key, dead_letter_id, dead_letter_id)
                if not entries:
                    return None
                fields = entries[0][1]
                pipe.multi()
                pipe.xadd(stream_key, {b"t": fields.get(b"task_id", b""), b"g": fields.get(b"group_id", b""),
                                       b"p": fields.get(b"payload", b"")})
                pipe.xdel(dead_key, dead_letter_id)
                entry_id, _deleted = pipe.execute()
                return text(entry_id)
            except redis.WatchError:  # a worker dead-lettered another task meanwhile: read again
                continue
    raise click.ClickException(f"dead letter {dead_letter_id} kept changing; try again")


def warn_if_group_settled(conn: Connection, row: dict[str, Any]) -> None:
    """Say so when the task's parallel group already counts it as failed: the rerun's result will not reach it."""
    from graflow.distributed.barrier import completion_keys

    group = row.get("group_id")
    task_id = row.get("task_id")
    if group and task_id and conn.binary.hexists(completion_keys(conn.prefix, group)[0], task_id):
        click.echo(f"note: group {group} already recorded task '{task_id}' as failed when it was dead-lettered; "
                   "the task runs again, but that group does not wait for it", err=True)


def record_of(conn: Connection, payload: Any) -> dict[str, Any] | str:
    """The task record in a dead letter's payload when it verifies and decodes, else why it does not."""
    from dataclasses import asdict

    from graflow.distributed.records import SerializedTaskRecord
    from graflow.security.signing import BadSignatureError

    if not payload:
        return "no payload"
    try:
        return asdict(SerializedTaskRecord.from_json(conn.queue.signer.verify(payload).decode()))
    except BadSignatureError as exc:
        return f"{len(payload)} bytes, not verified ({exc.reason})"
    except Exception as exc:
        return f"{len(payload)} bytes, not a task record ({type(exc).__name__})"


# -- output ----------------------------------------------------------------------------------------------------------
def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A dead letter without its payload bytes (their size instead), for JSON."""
    out = {k: v for k, v in row.items() if k != "payload"}
    out["payload_bytes"] = len(row.get("payload") or b"")
    if out.get("dead_at"):
        out["dead_at"] = float(out["dead_at"])
    return out


def when(timestamp: Any) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SSZ`` (UTC)."""
    try:
        moment = dt.datetime.fromtimestamp(float(timestamp), tz=dt.UTC)
    except (TypeError, ValueError):
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def shorten(value: str, width: int = DETAIL_WIDTH) -> str:
    """``value`` on one line, cut to ``width`` characters."""
    flat = " ".join(value.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
                     for r in [header, *rows])


def text(value: Any) -> str:
    """A Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def fail(ctx: click.Context, problem: str, code: int) -> Any:
    """One line on stderr, then exit with ``code``."""
    click.echo(f"{ctx.command_path}: {problem}", err=True)
    ctx.exit(code)


commands: list[click.Command] = [dlq, workers]
