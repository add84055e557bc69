"""Utilities shared by the adapters. Submodules are imported on demand, so importing this package pulls in no
optional dependency (``redis_utils`` needs the ``redis`` extra, ``graph`` the ``viz`` extra for PNG output)."""
