"""Contract suites: one per backend role, run against every implementation of that role.

Plain ``assert`` statements in these modules get pytest's detailed failure messages because they are registered for
assertion rewriting before they are imported.
"""

from __future__ import annotations

import pytest

# Name each suite module: the package itself is already being imported here.
pytest.register_assert_rewrite(
    "graflow.testing.contracts.channel",
    "graflow.testing.contracts.checkpoint_store",
    "graflow.testing.contracts.feedback",
    "graflow.testing.contracts.queue",
)

from graflow.testing.contracts.channel import ChannelContract  # noqa: E402 - must follow the rewrite registration

__all__ = ["ChannelContract"]
