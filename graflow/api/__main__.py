"""``python -m graflow.api``: the same as ``python -m graflow.api.main``."""

from graflow.api.main import main

if __name__ == "__main__":
    main()
