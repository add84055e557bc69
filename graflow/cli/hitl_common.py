"""What the ``graflow hitl`` subcommands share: the store flags, opening the store, one-line errors, exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from graflow.exceptions import GraflowError

if TYPE_CHECKING:
    from graflow.hitl.manager import FeedbackManager
    from graflow.hitl.types import FeedbackRequest, FeedbackResponse

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


class HitlCommandError(GraflowError):
    """A ``graflow hitl`` command cannot do what it was asked; ``exit_code`` is 1 (refused) or 2 (usage)."""

    def __init__(self, message: str, exit_code: int = EXIT_REFUSED) -> None:
        self.exit_code = exit_code
        super().__init__(message)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser that reports a usage error on one line (and exits 2), without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend``, ``--data-dir``, ``--redis-url`` and ``--key-prefix``: which feedback store to use."""
    group = parser.add_argument_group("feedback store")
    group.add_argument(
        "--backend",
        choices=["filesystem", "redis"],
        default="filesystem",
        help="where feedback is stored (default: filesystem)",
    )
    group.add_argument(
        "--data-dir", default="feedback_data", help="folder of the filesystem backend (default: feedback_data)"
    )
    group.add_argument(
        "--redis-url",
        default=None,
        help="Redis of the redis backend (default: $GRAFLOW_REDIS_URL or redis://localhost:6379/0)",
    )
    group.add_argument("--key-prefix", default="feedback", help="key prefix of the redis backend (default: feedback)")


def open_manager(args: argparse.Namespace) -> FeedbackManager:
    """The manager of the store the flags name.

    Raises:
        HitlCommandError: The Redis URL is malformed (usage), or Redis does not answer (refused).
    """
    from graflow.hitl.manager import FeedbackManager

    if args.backend == "filesystem":
        return FeedbackManager("filesystem", {"data_dir": args.data_dir})
    try:
        import redis

        from graflow.config import redis_url
        from graflow.utils.redis_utils import redis_from_url, safe_redis_url, validate_redis_url
    except ImportError as exc:
        raise HitlCommandError(
            f"the redis backend needs the 'redis' extra (pip install 'graflow[redis]'): {exc}"
        ) from None
    try:
        url = validate_redis_url(args.redis_url or redis_url())
    except GraflowError as exc:
        raise HitlCommandError(f"--redis-url: {exc}", EXIT_USAGE) from None
    client = redis_from_url(url)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise HitlCommandError(f"cannot connect to Redis at {safe_redis_url(url)}: {exc}") from None
    return FeedbackManager("redis", {"redis_client": client, "key_prefix": args.key_prefix})


def command(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a subcommand: a :class:`HitlCommandError` becomes one line on stderr and its exit code."""

    def handler(args: argparse.Namespace) -> int:
        try:
            return int(run(args))
        except HitlCommandError as exc:
            print(f"graflow hitl {args.hitl_command}: {exc}", file=sys.stderr)
            return exc.exit_code
        except _store_errors() as exc:  # the store failed under us (folder permissions, Redis went away)
            print(f"graflow hitl {args.hitl_command}: the feedback store failed: {exc}", file=sys.stderr)
            return EXIT_REFUSED

    handler.__doc__ = run.__doc__
    return handler


def _store_errors() -> tuple[type[BaseException], ...]:
    redis = sys.modules.get("redis")
    return (OSError,) if redis is None else (OSError, redis.RedisError)


def find_request(manager: FeedbackManager, feedback_id: str) -> FeedbackRequest:
    """The stored request ``feedback_id``.

    Raises:
        HitlCommandError: There is none (refused).
    """
    request = manager.get_request(feedback_id)
    if request is None:
        raise HitlCommandError(f"no feedback request {feedback_id!r} in this store")
    return request


def answer_text(response: FeedbackResponse) -> str:
    """The answer as a person reads it: ``approved``/``rejected``, the text or option, or JSON."""
    value = response.answer()
    if isinstance(value, bool):
        return "approved" if value else "rejected"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


__all__ = [
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "HitlCommandError",
    "OneLineParser",
    "add_store_arguments",
    "answer_text",
    "command",
    "find_request",
    "open_manager",
]
