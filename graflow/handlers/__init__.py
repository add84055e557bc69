"""Task handlers that run a task somewhere else than the run's own thread.

* :class:`SubprocessTaskHandler`: a fresh Python process per attempt (this interpreter or another one).
* :class:`DockerTaskHandler`: a Docker container per attempt (needs ``graflow[docker]``).

Both send the task, its resolved inputs and a copy of the channel, and bring back its result, its channel writes,
the tasks it scheduled and its control requests; both honour ``@task(timeout=...)``. Core reaches them by their
registry names (kind ``task_handler``: ``subprocess``, ``docker``); Graflow 0.2's
``graflow.core.handlers.docker.DockerTaskHandler`` is the same class. See ``docs/handlers.md``.
"""

from graflow.handlers.base import ProcessTaskHandler
from graflow.handlers.docker import DockerTaskHandler
from graflow.handlers.errors import HandlerUnavailableError, TaskProcessError
from graflow.handlers.subprocess import SubprocessTaskHandler

__all__ = [
    "DockerTaskHandler",
    "HandlerUnavailableError",
    "ProcessTaskHandler",
    "SubprocessTaskHandler",
    "TaskProcessError",
]
