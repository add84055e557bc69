"""The FastAPI side of Graflow (``pip install graflow[api]``): the runs API (start, follow, cancel and retry runs;
workers and dead letters), the human-in-the-loop feedback API and web UI, in one app.

Serve it with ``graflow server`` or ``python -m graflow.api``, or build it with
:func:`graflow.api.server.create_app` (the feedback part alone: :func:`graflow.api.app.create_feedback_api`). FastAPI
is imported by the submodules only, so importing this package costs nothing. See ``docs/api.md``.
"""
