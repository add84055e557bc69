"""Routers of the REST API (``feedback``) and of the feedback web UI (``feedback_ui``)."""
