"""``python -m graflow.worker``: same as ``python -m graflow.worker.main``."""

from __future__ import annotations

import sys

from graflow.worker.main import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
