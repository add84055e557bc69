"""Built-in task handlers: :class:`DirectTaskHandler` calls the task in this process."""

from graflow.core.handlers.direct import DirectTaskHandler

__all__ = ["DirectTaskHandler"]
