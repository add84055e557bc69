"""Fixtures of the HITL tests: backends of both kinds on private stores, and managers over them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The contract suite's plain asserts get pytest's detailed messages (it must be registered before it is imported).
pytest.register_assert_rewrite("graflow.testing.contracts.feedback")

from graflow.hitl.backend.base import FeedbackBackend
from graflow.hitl.backend.filesystem import FilesystemFeedbackBackend
from graflow.hitl.manager import FeedbackManager

BackendFactory = Callable[[], FeedbackBackend]


@pytest.fixture
def feedback_dir(tmp_path: Path) -> Path:
    """A folder for the filesystem backend that does not exist yet (D26: the backend creates it)."""
    return tmp_path / "feedback_data"


@pytest.fixture(params=["filesystem", "redis"])
def make_backend(request: pytest.FixtureRequest, feedback_dir: Path) -> Iterator[BackendFactory]:
    """Makes backend instances that share one private store; parametrized over both backend kinds."""
    created: list[FeedbackBackend] = []
    if request.param == "filesystem":

        def factory() -> FeedbackBackend:
            backend = FilesystemFeedbackBackend(feedback_dir)
            created.append(backend)
            return backend
    else:
        from graflow.hitl.backend.redis import RedisFeedbackBackend

        client: Any = request.getfixturevalue("redis_client")
        prefix = f"{request.getfixturevalue('key_prefix')}:feedback"

        def factory() -> FeedbackBackend:
            backend = RedisFeedbackBackend(client, key_prefix=prefix)
            created.append(backend)
            return backend

    yield factory
    for backend in created:
        backend.close()


@pytest.fixture
def manager(make_backend: BackendFactory) -> FeedbackManager:
    """The waiting side's manager."""
    return FeedbackManager(make_backend())


@pytest.fixture
def responder(make_backend: BackendFactory) -> FeedbackManager:
    """Another manager on the same store: the answering side (an API server, another process)."""
    return FeedbackManager(make_backend())
