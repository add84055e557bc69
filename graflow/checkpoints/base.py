"""The checkpoint store contract (its home is :mod:`graflow.core.checkpoint_store`; this path stays for imports)."""

from graflow.core.checkpoint_store import (
    STORE_BACKENDS,
    UNSUPPORTED_SCHEMES,
    CheckpointError,
    CheckpointStore,
    location_scheme,
    open_store,
)

__all__ = ["STORE_BACKENDS", "UNSUPPORTED_SCHEMES", "CheckpointError", "CheckpointStore", "location_scheme",
           "open_store"]
