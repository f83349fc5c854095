"""What Chalice or API Gateway would answer by themselves — a method a route lacks, a content type it does not
take, a path the app does not have — comes back in the API's one error shape, and never repeats the request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import json_body

BEARER = "Bearer hp-canary-token-0123456789"


def _error(response) -> dict:
    body = json_body(response)
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "fields"}
    return body["error"]


def test_a_method_the_route_lacks_is_the_404_api_gateway_gives_it(client, template_gateway_responses):
    # Deployed, API Gateway answers a method a resource lacks with MISSING_AUTHENTICATION_TOKEN, which the
    # template's gateway response makes 404 not_found: the app answers the same locally, not a 405 never seen live.
    deployed = template_gateway_responses["MISSING_AUTHENTICATION_TOKEN"]
    for method, path in [
        ("POST", "/api/stats"),
        ("DELETE", "/api/settings"),
        ("PATCH", "/webhooks/marketplace"),
        ("POST", "/"),
    ]:
        response = client.http.request(method, path, headers={"Authorization": BEARER}, body=b"")
        assert response.status_code == int(deployed["StatusCode"]) == 404, (method, path)
        assert _error(response) == json.loads(deployed["ResponseTemplates"]["application/json"])["error"]
        assert b"canary" not in response.body


def test_a_content_type_the_route_does_not_take_is_415_in_the_error_shape(client):
    response = client.http.put(
        "/api/settings", headers={"Content-Type": "text/x-canary-type", "Authorization": BEARER}, body=b"{}"
    )
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"
    assert b"canary" not in response.body


def test_an_unknown_path_is_404_and_never_echoes_the_bearer_token(client):
    paths = ["/api/nope", "/api/tasks/1/retry/more", "/nope", "/a/b/c/d/e/f/g/h/i/j", "/API/settings", "/api/"]
    for path in paths:
        for method in ("GET", "POST", "DELETE"):
            response = client.http.request(method, path, headers={"Authorization": BEARER}, body=b"")
            assert response.status_code == 404, (method, path, response.body)
            assert _error(response)["code"] == "not_found"
            assert b"canary" not in response.body
            assert "canary" not in json.dumps(dict(response.headers))


@pytest.fixture
def template_gateway_responses() -> dict[str, dict]:
    """The packaged template's API Gateway responses, by response type."""
    template = json.loads((Path(__file__).resolve().parents[2] / "deploy" / "resources.json").read_text())
    return {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in template["Resources"].values()
        if r.get("Type") == "AWS::ApiGateway::GatewayResponse"
    }


def test_under_api_gateway_what_never_reaches_the_app_answers_in_the_error_shape(template_gateway_responses):
    # API Gateway answers a path or method the API lacks itself (403 text repeating the Authorization header);
    # the template's gateway responses give those, and every other refusal of its own, the app's error shape.
    responses = template_gateway_responses
    assert set(responses) == {"MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX", "DEFAULT_5XX"}
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    for props in responses.values():
        assert props["RestApiId"] == {"Ref": "RestAPI"}
        body = json.loads(props["ResponseTemplates"]["application/json"])
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
        assert "$" not in props["ResponseTemplates"]["application/json"]  # nothing of the request is echoed
    assert json.loads(responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"]) == {
        "error": {"code": "not_found", "message": "no such route"}
    }
