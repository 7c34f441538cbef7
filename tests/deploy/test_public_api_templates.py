"""Every mapping template `expose` writes, evaluated by a real Velocity engine (airspeed) with
`$input`, `$util` and `$context` as API Gateway documents them (api_gateway_vtl): each must give
valid JSON of our shape, for present, missing and wrongly typed fields and for model errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from api_gateway_vtl import Input, render
from deploy_helpers import Cloud, deploy_args, run_cli

from deploy.public_api import templates
from deploy.public_api.rest_api import GATEWAY_RESPONSES

TWO_ORIGINS = ("https://a.example.com", "https://b.example.com")


@pytest.mark.parametrize(
    ("public", "sent"),
    [
        ({"text": "Stocks rally"}, {"inputs": ["Stocks rally"]}),
        ({"texts": ["a", "b"]}, {"inputs": ["a", "b"]}),
        ({"texts": ["a"], "top_k": 2}, {"inputs": ["a"], "parameters": {"top_k": 2}}),
        ({"text": "a", "top_k": None}, {"inputs": ["a"]}),
        # A wrong type passes through unchanged; the request model refuses it first, and the
        # server would answer 400 with its own message.
        ({"text": 5}, {"inputs": [5]}),
    ],
)
def test_the_direct_request_template(public: dict[str, Any], sent: dict[str, Any]) -> None:
    """API Gateway "Variables for data transformations": `$input.json` of a missing field is an
    empty JSON string; the shipped template took it for the texts (`{"inputs": ""}`)."""
    rendered = render(templates.DIRECT_REQUEST, json.dumps(public))
    assert rendered.json() == sent


def test_missing_fields_are_an_empty_json_string() -> None:
    """The evaluator's own semantics, as the guide gives them."""
    given = Input('{"a": {"b": 1}, "s": "x"}', {"Origin": "o"})
    assert (given.json("$.a.b"), given.json("$.s"), given.json("$.nope")) == ("1", '"x"', '""')
    assert (given.path("$.a.b"), given.path("$.nope"), given.params("Origin")) == (1, "", "o")


def test_success_and_health_templates() -> None:
    answer = [{"label": "world", "score": 0.9}]
    body = render(templates.DIRECT_SUCCESS, json.dumps(answer), request_id="r-7").json()
    assert body == {"predictions": answer, "request_id": "r-7"}
    assert render(templates.HEALTH).json()["status"] == "ok"


@pytest.mark.parametrize(
    ("original", "status"), [(400, 400), (413, 413), (503, 503), (504, 504), (500, 502)]
)
def test_a_model_error_keeps_the_containers_status(original: int, status: int) -> None:
    """SageMaker Runtime InvokeEndpoint: ModelError (424) carries OriginalStatusCode and
    OriginalMessage; API Gateway `$context.responseOverride.status` sets the caller's status."""
    message = json.dumps({"error": 'bad "input"', "type": "invalid_request"})
    error = {"OriginalStatusCode": original, "OriginalMessage": message}
    rendered = render(templates.DIRECT_MODEL_ERROR, json.dumps(error))
    assert rendered.status == status
    body = rendered.json()
    assert (body["type"], json.loads(body["error"])) == ("model_error", json.loads(message))


def test_other_integration_errors_are_our_json() -> None:
    for _, _, template in templates.DIRECT_ERRORS[1:]:
        body = render(template, "<html>not json</html>", request_id="r-1").json()
        assert set(body) == {"error", "type", "request_id"} and body["request_id"] == "r-1"


def test_gateway_responses_are_json_whatever_the_message() -> None:
    """API Gateway "Variables for data transformations": `$context.error.messageString` is
    the quoted message; quoting `$context.error.message` ourselves broke on a quote in it."""
    for kind, message in GATEWAY_RESPONSES.values():
        template = '{"error": ' + message + ', "type": "' + kind + '"}'
        text = template.replace("$context.error.messageString", json.dumps('Missing "key"'))
        assert json.loads(render(text).body)["type"] == kind


def test_an_origin_is_echoed_only_when_listed() -> None:
    override = templates.origin_override(TWO_ORIGINS)
    listed = render(override, params={"Origin": "https://b.example.com"})
    assert listed.headers == {"Access-Control-Allow-Origin": "https://b.example.com"}
    assert render(override, params={"Origin": "https://evil.example.com"}).headers == {}


def test_with_several_origins_gateway_errors_carry_the_origin(cloud: Cloud, artifact: Path) -> None:
    """API Gateway gateway responses map headers from `method.request.header.*`: a refused
    call (no API key) still lets the browser read the error."""
    result = run_cli(*deploy_args("--artifact", str(artifact)))
    assert result.exit_code == 0, result.output
    flags = [f for origin in TWO_ORIGINS for f in ("--cors-origin", origin)]
    exposed = run_cli("expose", "--endpoint", "headline", "--auth", "api-key", *flags)
    assert exposed.exit_code == 0, exposed.output
    gateway = cloud.client("apigateway")
    [api] = gateway.get_rest_apis()["items"]
    answer = gateway.get_gateway_response(restApiId=api["id"], responseType="DEFAULT_4XX")
    assert answer["responseParameters"] == {
        "gatewayresponse.header.Access-Control-Allow-Origin": "method.request.header.Origin"
    }
