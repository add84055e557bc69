"""A workflow submitted while no worker consumes its stream: one warning that says where it waits, then a timeout.

Every test queues on its own ``key_prefix`` (so its own stream ``<prefix>:tasks``), which no worker of another test
reads: the runs stay untaken unless the test takes them itself.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from graflow import task, workflow
from graflow.distributed.barrier import BarrierTimeoutError
from graflow.distributed.queue import DistributedTaskQueue
from graflow.distributed.submit import WorkflowRunTimeoutError, submit_workflow
from graflow.exceptions import GraflowError
from graflow.utils.redis_utils import safe_redis_url
from graflow.worker.inprocess import run_workers

pytestmark = pytest.mark.integration

SUBMIT_LOGGER = "graflow.distributed.submit"
#: Short enough to keep the tests quick; the library default is defaults.SUBMIT_NO_WORKER_WARNING_SECONDS.
WARN_AFTER = 0.2
TIMEOUT = 1.0


def one_task_workflow(name: str) -> Any:
    with workflow(name) as wf:

        @task(id="only")
        def only() -> int:
            return 7

    return wf


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == SUBMIT_LOGGER and r.levelno == logging.WARNING]


def test_an_untaken_run_logs_one_warning_then_times_out_naming_what_is_pending(
    redis_client: Any, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given no worker on this key prefix
    wf = one_task_workflow("untaken")
    caplog.set_level(logging.WARNING, logger=SUBMIT_LOGGER)
    # when a run is submitted with a timeout longer than the warning delay
    with pytest.raises(WorkflowRunTimeoutError) as raised:
        submit_workflow(
            wf, redis_client=redis_client, key_prefix=key_prefix, timeout=TIMEOUT, no_worker_warning_after=WARN_AFTER
        )
    # then one warning named the stream and the Redis and said that no worker has taken the run
    warnings = warnings_of(caplog)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    text = warnings[0].getMessage()
    stream = f"{key_prefix}:tasks"
    assert stream in text
    assert safe_redis_url(redis_client) in text
    assert "No worker has taken" in text
    # and the timeout is a TimeoutError and a Graflow error whose message names the pending task
    error = raised.value
    assert isinstance(error, TimeoutError) and isinstance(error, GraflowError)
    assert isinstance(error, BarrierTimeoutError)  # what waiting on a run raised before
    assert error.pending == ["only"] and error.taken is False and error.timeout == TIMEOUT
    message = str(error)
    assert "1 task(s) still pending: 'only'" in message
    assert "no worker has taken it" in message and stream in message


def test_a_timeout_shorter_than_the_warning_delay_raises_without_a_warning(
    redis_client: Any, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    wf = one_task_workflow("short-timeout")
    caplog.set_level(logging.WARNING, logger=SUBMIT_LOGGER)
    with pytest.raises(WorkflowRunTimeoutError, match="still pending: 'only'"):
        submit_workflow(wf, redis_client=redis_client, key_prefix=key_prefix, timeout=0.3, no_worker_warning_after=5)
    assert warnings_of(caplog) == []


def test_the_warning_can_be_turned_off(redis_client: Any, key_prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    wf = one_task_workflow("quiet")
    caplog.set_level(logging.WARNING, logger=SUBMIT_LOGGER)
    with pytest.raises(WorkflowRunTimeoutError):
        submit_workflow(wf, redis_client=redis_client, key_prefix=key_prefix, timeout=0.5, no_worker_warning_after=None)
    assert warnings_of(caplog) == []


def test_a_run_a_worker_took_but_has_not_finished_gets_no_warning(
    redis_client: Any, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given a run that a consumer of the workers' group has taken and not finished
    wf = one_task_workflow("taken")
    run = submit_workflow(
        wf, redis_client=redis_client, key_prefix=key_prefix, wait=False, no_worker_warning_after=WARN_AFTER
    )
    assert run.taken() is False
    taken = DistributedTaskQueue(redis_client, key_prefix=key_prefix).stream.consume("stuck-worker", count=1, block=1)
    assert [d.task_id for d in taken] == ["only"]
    assert run.taken() is True
    caplog.set_level(logging.WARNING, logger=SUBMIT_LOGGER)
    # when the caller waits past the warning delay
    with pytest.raises(WorkflowRunTimeoutError) as raised:
        run.result(timeout=TIMEOUT)
    # then nothing warns about missing workers, and the timeout says a worker is running it
    assert warnings_of(caplog) == []
    assert raised.value.taken is True
    assert "a worker has taken it and is still running it" in str(raised.value)


def test_a_run_submitted_before_any_worker_runs_once_one_starts(redis_client: Any, key_prefix: str) -> None:
    # given a run that timed out because no worker was there
    wf = one_task_workflow("late-worker")
    run = submit_workflow(
        wf, redis_client=redis_client, key_prefix=key_prefix, wait=False, no_worker_warning_after=WARN_AFTER
    )
    with pytest.raises(WorkflowRunTimeoutError):
        run.result(timeout=0.3)
    # when a worker starts on the same prefix, then it takes the run and the result arrives
    with run_workers(redis_client, key_prefix):
        assert run.result(timeout=30) == 7
    assert run.taken() is True
