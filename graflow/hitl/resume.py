"""Which feedback id a task's request reuses when the task runs again after a pause.

A task may ask several questions. Each request is identified by the task id and its *position* among the requests
of that task's current run (0 for the first). When a run pauses because a request timed out and is resumed later,
the task runs again from its start: its first request gets position 0 again, finds the id used before, and so
returns the answer given meanwhile at once; the request that timed out is asked again under its old id. So a task
that asks twice gets two answers (0.2 keyed the reused id by the task alone and answered both with the first).

:class:`FeedbackIds` holds these ids for one run. It lives on the execution context, so checkpoints carry it.
"""

from __future__ import annotations

from typing import Any


class FeedbackIds(dict[tuple[str, int], str]):
    """Feedback ids by ``(task_id, position)`` of the requests a run's tasks have made and not yet finished with.

    It is a plain dict (picklable, thread-safe for single operations) with helpers for the engine:
    :meth:`forget_task` when a task completes, so that a later run of the same task (a loop that comes back to
    it) asks anew instead of reusing old answers; :meth:`to_json_dict` / :meth:`from_json_dict` for JSON state.
    """

    def forget_task(self, task_id: str) -> None:
        """Drop the ids of ``task_id``'s requests."""
        for key in [key for key in list(self) if key[0] == task_id]:
            self.pop(key, None)

    def of_task(self, task_id: str) -> list[str]:
        """The ids of ``task_id``'s requests, by position."""
        return [self[key] for key in sorted(key for key in list(self) if key[0] == task_id)]

    def to_json_dict(self) -> dict[str, dict[str, str]]:
        """``{task_id: {"<position>": feedback_id}}``: the same content with JSON-friendly keys."""
        out: dict[str, dict[str, str]] = {}
        for (task_id, position), feedback_id in sorted(self.items()):
            out.setdefault(task_id, {})[str(position)] = feedback_id
        return out

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> FeedbackIds:
        """Rebuild from :meth:`to_json_dict` output."""
        ids = cls()
        for task_id, positions in data.items():
            for position, feedback_id in positions.items():
                ids[(str(task_id), int(position))] = str(feedback_id)
        return ids


__all__ = ["FeedbackIds"]
