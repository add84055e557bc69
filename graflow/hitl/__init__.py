"""Human in the loop: a task asks a person a question and waits for the answer.

Tasks ask through their context (``ctx.request_feedback(...)``, ``request_approval``, ``request_text_input``,
``request_selection``); people answer through the REST API or the web UI (``python -m graflow.api``), or in code
with :meth:`graflow.hitl.manager.FeedbackManager.provide_feedback`. The pieces:

- :mod:`graflow.hitl.types`: the request and response records, the feedback types, and the errors;
- :mod:`graflow.hitl.manager`: :class:`~graflow.hitl.manager.FeedbackManager`, the ask-wait-answer flow;
- :mod:`graflow.hitl.backend`: where requests live (filesystem or Redis);
- :mod:`graflow.hitl.handler`: notifications (webhook, Slack);
- :mod:`graflow.hitl.resume`: which id a request reuses when its task runs again after a pause.
"""

__all__: list[str] = []
