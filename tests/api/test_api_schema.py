"""Property-based checks of the whole API against its own OpenAPI schema: no generated request gets a 5xx, and every
JSON answer matches the documented schema.

Every documented operation gets generated requests, once with the ids the generator makes up and once aimed at a
real workflow, run and question, so the code behind the 404s runs too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from graflow.api.server import ServerConfig, create_app
from graflow.runs import close_recorders
from graflow.testing.contracts.feedback import make_request
from tests.api import flows

CHECKS = [not_a_server_error, response_schema_conformance]
SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)

# The schema is loaded when the module is imported; the folder named here is replaced per module below.
APP = create_app(
    ServerConfig(store=f"memory://schema-{uuid.uuid4().hex[:8]}", feedback_config={"data_dir": "unused-feedback"}),
    [flows.etl(), flows.typed(), flows.broken()],
    tokens=None,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
REAL: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="module")
def _a_world_to_aim_at(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    from graflow.hitl.manager import FeedbackManager

    manager = FeedbackManager("filesystem", {"data_dir": str(tmp_path_factory.mktemp("feedback"))})
    APP.state.feedback_manager = manager
    APP.state.services.use_feedback_backend(manager.backend)
    with TestClient(APP) as client:
        started = client.post("/api/workflows/etl/runs", json={"parameters": {"n": 2}})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        with client.stream("GET", f"/api/runs/{run_id}/events") as response:
            response.read()  # the stream ends with run.finished
        REAL.update(run_id=run_id, name="etl")
        yield
    close_recorders(5.0)


@schema.parametrize()
@SETTINGS
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)


@schema.parametrize()
@SETTINGS
def test_no_generated_request_on_real_ids_gets_a_server_error(case: schemathesis.Case) -> None:
    parameters = case.path_parameters or {}
    if "run_id" in parameters:
        parameters["run_id"] = REAL["run_id"]
    if "name" in parameters:
        parameters["name"] = REAL["name"]
    if "feedback_id" in parameters:
        request = make_request(feedback_id=f"f{uuid.uuid4().hex[:15]}")
        APP.state.feedback_manager.store_request(request)
        parameters["feedback_id"] = request.feedback_id
    case.call_and_validate(checks=CHECKS)
