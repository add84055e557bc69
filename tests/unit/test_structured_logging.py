"""Structured logs: JSON lines tagged with the run's ids, one switch to turn them on, credentials masked."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from graflow.core.decorators import task
from graflow.core.workflow import workflow
from graflow.exceptions import ConfigError, GraflowError
from graflow.observability.logging import (
    JsonFormatter,
    LoggingHook,
    configure_logging,
    current_log_context,
    log_context,
    set_worker_id,
)

LOGGER = "graflow.test.structured"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Graflow's handler on a private logger, writing JSON into a buffer; removed afterwards."""
    buffer = io.StringIO()
    handler = configure_logging("json", "DEBUG", stream=buffer, logger_name=LOGGER)
    logger = logging.getLogger(LOGGER)
    logger.propagate = False
    yield buffer
    logger.removeHandler(handler)
    logger.propagate = True
    set_worker_id(None)


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_logs_inside_tasks_carry_workflow_session_task_and_trace(stream: io.StringIO) -> None:
    # given a workflow with the logging hook whose tasks log
    log = logging.getLogger(LOGGER)
    with workflow("billing", hooks=[LoggingHook()]) as wf:

        @task
        def invoice() -> None:
            log.info("invoicing")

        @task
        def mail() -> None:
            log.info("mailing")

        invoice >> mail
        # when it runs
        _, ctx = wf.execute(ret_context=True)
    log.info("after the run")

    # then each line names its run and task; the line after the run names none
    lines = _lines(stream)
    assert [line["message"] for line in lines] == ["invoicing", "mailing", "after the run"]
    first, second, after = lines
    assert first["workflow"] == "billing"
    assert first["task_id"] == "invoice" and second["task_id"] == "mail"
    assert first["session_id"] == ctx.session_id
    assert first["trace_id"] == ctx.trace_id
    assert first["level"] == "INFO" and first["logger"] == LOGGER
    assert after["workflow"] is None and after["task_id"] is None


def test_parallel_members_log_their_own_task_ids(stream: io.StringIO) -> None:
    log = logging.getLogger(LOGGER)
    both = threading.Barrier(2, timeout=10)
    with workflow("fan", hooks=[LoggingHook()]) as wf:

        @task
        def left() -> None:
            both.wait()
            log.info("left")

        @task
        def right() -> None:
            both.wait()
            log.info("right")

        left | right
        wf.execute()

    by_message = {line["message"]: line for line in _lines(stream)}
    assert by_message["left"]["task_id"] == "left"
    assert by_message["right"]["task_id"] == "right"
    assert by_message["left"]["workflow"] == "fan"


def test_worker_id_tags_every_thread(stream: io.StringIO) -> None:
    set_worker_id("worker-7")
    seen: list[str | None] = []
    thread = threading.Thread(target=lambda: seen.append(current_log_context()["worker_id"]))
    thread.start()
    thread.join()
    logging.getLogger(LOGGER).warning("hello")
    assert seen == ["worker-7"]
    assert _lines(stream)[0]["worker_id"] == "worker-7"


def test_secrets_in_messages_extras_and_exceptions_are_masked(stream: io.StringIO) -> None:
    log = logging.getLogger(LOGGER)
    log.info("connecting to redis://app:hunter2@db:6379/0 token=abc123")
    try:
        raise RuntimeError("auth failed with password=s3cret")
    except RuntimeError:
        log.exception("failed", extra={"api_key": "sk-live-1", "attempt": 2})

    first, second = _lines(stream)
    assert "hunter2" not in first["message"] and "abc123" not in first["message"]
    assert "redis://app:***@db:6379/0" in first["message"]
    assert "s3cret" not in second["exception"]
    assert "RuntimeError" in second["exception"]
    assert second["api_key"] == "***"
    assert second["attempt"] == 2


def test_text_format_appends_the_context_and_masks(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    handler = configure_logging("text", "INFO", stream=buffer, logger_name=LOGGER)
    logger = logging.getLogger(LOGGER)
    logger.propagate = False
    try:
        with log_context(workflow="wf", task_id="t1"):
            logger.info("secret=abc")
        logger.info("plain")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    first, second = buffer.getvalue().splitlines()
    assert first.endswith("secret=*** [workflow=wf task_id=t1]")
    assert second.endswith("plain")


def test_env_switch_selects_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_LOG_FORMAT", "json")
    monkeypatch.setenv("GRAFLOW_LOG_LEVEL", "warning")
    buffer = io.StringIO()
    handler = configure_logging(stream=buffer, logger_name=LOGGER)
    logger = logging.getLogger(LOGGER)
    logger.propagate = False
    try:
        assert isinstance(handler.formatter, JsonFormatter)
        logger.info("dropped")
        logger.warning("kept")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert [json.loads(line)["message"] for line in buffer.getvalue().splitlines()] == ["kept"]


def test_configuring_twice_keeps_one_handler() -> None:
    logger = logging.getLogger(LOGGER)
    before = list(logger.handlers)
    first = configure_logging("json", stream=io.StringIO(), logger_name=LOGGER)
    second = configure_logging("text", stream=io.StringIO(), logger_name=LOGGER)
    try:
        assert first not in logger.handlers
        assert logger.handlers == [*before, second]
    finally:
        logger.removeHandler(second)


@pytest.mark.parametrize(("fmt", "level"), [("xml", "INFO"), ("json", "LOUD")])
def test_unknown_format_or_level_is_a_config_error(fmt: str, level: str) -> None:
    with pytest.raises(ConfigError):
        configure_logging(fmt, level, stream=io.StringIO(), logger_name=LOGGER)


def test_log_context_rejects_unknown_fields() -> None:
    with pytest.raises(ConfigError, match="colour"), log_context(colour="red"):
        pass


def test_event_lines_report_failures() -> None:
    # given JSON logs for the events logger and a hook that logs events
    buffer = io.StringIO()
    events = logging.getLogger("graflow.events")
    handler = configure_logging("json", "DEBUG", stream=buffer, logger_name="graflow.events")
    events.propagate = False
    try:
        with workflow("ev", hooks=[LoggingHook(log_events=True)]) as wf:

            @task
            def bad() -> None:
                raise ValueError("broken token=xyz")

            # when a task fails
            with pytest.raises(GraflowError, match="broken"):
                wf.execute()
    finally:
        events.removeHandler(handler)
        events.propagate = True
        events.setLevel(logging.NOTSET)
    # then its start and its failure are logged, with the credential masked
    messages = [line["message"] for line in _lines(buffer)]
    assert "Task bad started" in messages
    failed = [m for m in messages if m.startswith("Task bad failed")]
    assert failed and "xyz" not in failed[0]
