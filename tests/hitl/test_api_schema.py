"""Property-based checks of the REST API and web UI against their own OpenAPI schema: no input gives a 5xx, and
every JSON answer matches the documented schema.

Every documented operation gets generated requests (paths, queries, JSON bodies, form fields), once with random ids
and once aimed at a fresh pending request (of each type in turn), so the answering and cancelling code runs too.
"""

from __future__ import annotations

import itertools

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from graflow.api.app import create_feedback_api
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.types import FeedbackType, new_feedback_id
from graflow.testing.contracts.feedback import make_request

CHECKS = [not_a_server_error, response_schema_conformance]
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
_kinds = itertools.cycle(FeedbackType)

# The schema is loaded when the module is imported; the app's manager is replaced per module below, so the folder
# named here is never written to.
APP = create_feedback_api(feedback_config={"data_dir": "unused-feedback-data"}, auth_token="")
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(autouse=True, scope="module")
def _private_store(tmp_path_factory: pytest.TempPathFactory) -> None:
    APP.state.feedback_manager = FeedbackManager("filesystem", {"data_dir": str(tmp_path_factory.mktemp("feedback"))})


@schema.parametrize()
@SETTINGS
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)


@schema.parametrize()
@SETTINGS
def test_no_generated_answer_to_a_real_request_gets_a_server_error(case: schemathesis.Case) -> None:
    if case.path_parameters and "feedback_id" in case.path_parameters:
        request = make_request(feedback_id=new_feedback_id(), feedback_type=next(_kinds), options=["a", "b"])
        APP.state.feedback_manager.store_request(request)
        case.path_parameters["feedback_id"] = request.feedback_id
    case.call_and_validate(checks=CHECKS)
