"""Schemathesis against the app's own ``/api/openapi.json``, served by Chalice's local dev server on 127.0.0.1 (an
ephemeral port, stopped at the end): for every operation of the document, generated inputs — valid ones and ones
the schema forbids, a bounded number per operation, seeded — must get a status the document lists, in the
document's shape and content type, and never a 5xx; a request the schema refuses must be refused."""

from __future__ import annotations

import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.services.sessions import seller_sessions
from tests.helpers import make_seller

EXAMPLES = 8  # per operation and mode: the document has ~20 operations, each example is one request to moto
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def local_app(aws, clock):
    """The app behind Chalice's local dev server (as ``make serve`` runs it), on 127.0.0.1."""
    from chalice.config import Config
    from chalice.local import ChaliceRequestHandler, LocalDevServer

    from app import app

    class Quiet(ChaliceRequestHandler):
        def log_message(self, format, *args):
            return

    server = LocalDevServer(app, Config.create(chalice_stage="dev"), "127.0.0.1", 0, handler_cls=Quiet)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True, name="openapi-conformance")
    thread.start()
    host, port = server.server.server_address[:2]
    yield f"http://{host}:{port}"
    server.server.shutdown()
    server.server.server_close()
    thread.join(5)


@pytest.fixture
def seller_session(aws, clock) -> str:
    return seller_sessions.start(make_seller(clock.now()), now=clock.now()).token


def operations(local_app: str) -> list:
    """Every operation of the document the app serves (the schema is read over HTTP, as a client reads it)."""
    schema = schemathesis.openapi.from_url(f"{local_app}/api/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_operation_answers_as_its_document_says(local_app, seller_session, mode):
    found = operations(local_app)
    assert len(found) >= 12  # the document is read, not an empty one
    for operation in found:
        # Logging out would end the session the other operations use: its own test covers it.
        token = "not-a-session" if operation.path == "/api/logout" else seller_session
        check(operation, mode, local_app, token)


def check(operation, mode: GenerationMode, base_url: str, token: str) -> None:
    """Send the generated cases of one operation and validate every answer against the document."""

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def answers_as_documented(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        case.call_and_validate(base_url=base_url, checks=CHECKS)

    answers_as_documented()
