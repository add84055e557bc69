"""Built-in task handlers. ``DockerTaskHandler`` lives in ``graflow.core.handlers.docker`` (extra ``docker``)."""

from graflow.core.handlers.direct import DirectTaskHandler

__all__ = ["DirectTaskHandler"]
