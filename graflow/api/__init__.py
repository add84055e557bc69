"""The FastAPI side of Graflow: the human-in-the-loop feedback REST API and web UI (``pip install graflow[api]``).

Serve it with ``python -m graflow.api`` or build it with :func:`graflow.api.app.create_feedback_api`. FastAPI is
imported by the submodules only, so importing this package costs nothing.
"""
