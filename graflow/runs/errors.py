"""Errors of the run store. Each derives from :class:`~graflow.exceptions.GraflowError`."""

from __future__ import annotations

from graflow.exceptions import GraflowError


class RunStoreError(GraflowError):
    """The run store cannot do what was asked: a bad URL, cursor or argument, or a database error."""


class RunStoreClosedError(RunStoreError):
    """The store was closed."""

    def __init__(self) -> None:
        super().__init__("The run store is closed")


class SchemaVersionError(RunStoreError):
    """The database's run-store schema is at a revision this version of Graflow does not know (a newer one).

    Attributes:
        found: The revision recorded in the database.
        expected: The newest revision this version ships.
    """

    def __init__(self, found: str, expected: str) -> None:
        self.found = found
        self.expected = expected
        super().__init__(
            f"The run store's schema is at revision {found!r}, which this Graflow does not know (its newest is "
            f"{expected!r}); upgrade Graflow or use another store"
        )


__all__ = ["RunStoreClosedError", "RunStoreError", "SchemaVersionError"]
