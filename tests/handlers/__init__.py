"""Task handlers that run a task in another process: subprocess and Docker (against a fake engine)."""
