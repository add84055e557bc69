"""``graflow server``: serve the HTTP API (runs, workers, dead letters, human-in-the-loop questions) for the
workflows given with ``--app`` and ``--workflows-dir``.

This module only reads the command line and loads the workflows (``graflow.cli._loading``); the server lives in
``graflow.api.server``. See ``docs/api.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from graflow import defaults
from graflow.cli._loading import load_workflow, resolve_spec
from graflow.config import env
from graflow.exceptions import GraflowError

#: Exit codes: the server stopped normally, or it refused to start (bad flags, a store or Redis that does not
#: answer, no token for a public address).
EXIT_OK, EXIT_USAGE = 0, 2
#: The module that holds the server. The command reaches it by name when it runs: the ``cli`` and ``api`` layers are
#: independent (``pyproject.toml``), and ``graflow --help`` must work where the ``api`` extra is not installed.

EPILOG = """\b
Examples:
  graflow server --app flows/etl.py:nightly --store sqlite:///runs.db
  graflow server --workflows-dir flows/ --redis-url redis://localhost:6379/0
  GRAFLOW_API_TOKENS="viewer:$VIEW,operator:$OPS" graflow server --workflows-dir flows/ --host 0.0.0.0

Every *.py file in --workflows-dir (files starting with '_' are skipped) must define one workflow at its top level;
use --app FILE:NAME for files with several.
"""


def load_workflows(apps: tuple[str, ...], workflows_dir: str | None) -> list[tuple[Any, str]]:
    """The workflows named by ``--app`` specs and found in ``--workflows-dir``, each with its spec.

    Raises:
        WorkflowLoadError: A spec or a file that names no loadable workflow (a ``GraflowError``).
    """
    specs = list(apps)
    if workflows_dir is not None:
        specs += [str(path) for path in sorted(Path(workflows_dir).glob("*.py")) if not path.name.startswith("_")]
    return [(load_workflow(spec), resolve_spec(spec)) for spec in specs]


@click.command(name="server", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--app", "apps", multiple=True, metavar="FILE[:NAME]|MODULE[:NAME]",
              help="A workflow to serve (repeatable).")
@click.option("--workflows-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Serve the workflow of every *.py file of this folder.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to bind.")
@click.option("--store", "store_url", metavar="URL", default=None,
              help="Run store (default: GRAFLOW_RUN_STORE, else sqlite:///$GRAFLOW_HOME/runs.db).")
@click.option("--redis-url", metavar="URL", default=None,
              help="The workers' Redis, for distributed runs, workers and dead letters (default: GRAFLOW_REDIS_URL).")
@click.option("--redis-key-prefix", default=defaults.REDIS_KEY_PREFIX, show_default=True,
              help="The workers' --redis-key-prefix.")
@click.option("--tokens-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A file of 'role:token' lines (roles: viewer, operator); adds to GRAFLOW_API_TOKENS.")
@click.option("--insecure", is_flag=True, help="Serve a non-loopback --host without any token.")
@click.option("--feedback-backend", type=click.Choice(["filesystem", "redis"]), default="filesystem",
              show_default=True, help="Where questions are stored (redis: the --redis-url Redis).")
@click.option("--feedback-dir", default="feedback_data", show_default=True,
              help="Folder of the filesystem feedback store.")
@click.option("--no-resume", is_flag=True, help="Do not resume runs paused on questions once they are answered.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Allow browser calls from this origin (repeatable; CORS is off without it).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True, help="uvicorn's log level.")
@click.pass_context
def server(ctx: click.Context, apps: tuple[str, ...], workflows_dir: str | None, host: str, port: int,
           store_url: str | None, redis_url: str | None, redis_key_prefix: str, tokens_file: str | None,
           insecure: bool, feedback_backend: str, feedback_dir: str, no_resume: bool, cors_origins: tuple[str, ...],
           log_level: str) -> None:
    """Serve the Graflow API: start and follow runs, operate the workers' queue, answer questions.

    Runs of the served workflows are started with POST /api/workflows/{name}/runs, executed in this process
    (local) or by the workers of --redis-url (distributed), and recorded in the run store. Tokens with the roles
    viewer (read) and operator (also start, cancel, retry, answer, requeue) come from GRAFLOW_API_TOKENS
    ("viewer:TOKEN,operator:TOKEN2"), --tokens-file, and GRAFLOW_API_TOKEN (an operator token).
    """
    try:
        from graflow.api import server as module
    except ImportError as exc:
        click.echo(f"graflow server: needs the 'api' extra (pip install 'graflow[api]'): {exc}", err=True)
        ctx.exit(EXIT_USAGE)
    try:
        workflows = load_workflows(apps, workflows_dir)
        config = module.ServerConfig(
            host=host, port=port, store=store_url, redis_url=redis_url or env("GRAFLOW_REDIS_URL"),
            redis_key_prefix=redis_key_prefix, tokens_file=tokens_file, insecure=insecure,
            feedback_backend=feedback_backend, feedback_config={"data_dir": feedback_dir} if
            feedback_backend == "filesystem" else None, resume=not no_resume,
            cors_origins=list(cors_origins) or None, log_level=log_level,
        )  # fmt: skip
        module.serve(config, workflows)
    except (GraflowError, ImportError) as exc:  # a bad spec, a refused configuration, a missing optional package
        click.echo(f"graflow server: {exc}", err=True)
        ctx.exit(EXIT_USAGE)
    ctx.exit(EXIT_OK)


commands = [server]

__all__ = ["commands", "load_workflows", "server"]
