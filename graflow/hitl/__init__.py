"""Human in the loop: a task asks a person a question and waits for the answer.

Tasks ask through their context (``ctx.request_feedback(...)``, ``request_approval``, ``request_text_input``,
``request_selection``); people answer through the REST API or the web UI (``python -m graflow.api``), or in code
with :meth:`graflow.hitl.manager.FeedbackManager.provide_feedback`. The pieces:

- :mod:`graflow.hitl.types`: the request and response records, the feedback types, and the errors;
- :mod:`graflow.hitl.manager`: :class:`~graflow.hitl.manager.FeedbackManager`, the ask-wait-answer flow;
- :mod:`graflow.hitl.backend`: where requests live (filesystem or Redis);
- :mod:`graflow.hitl.handler`: notifications (webhook, Slack);
- :mod:`graflow.hitl.resume`: which id a request reuses when its task runs again after a pause;
- :mod:`graflow.hitl.resumer`: :class:`~graflow.hitl.resumer.FeedbackResumer`, which resumes a paused run once its
  question is answered (run by ``python -m graflow.api`` and ``graflow hitl resumer``);
- :mod:`graflow.hitl.resume_state`: how a resumption is claimed and recorded in the request, so that several
  resumers never resume a run twice and a dead one's claim is taken over.
"""

__all__: list[str] = []
