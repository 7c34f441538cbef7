"""`deploy expose`, `unexpose`, `status` and `delete` with a public API, against the moto server.

moto stores the Lambda function without running it; the handler itself is tested through the
SageMaker stand-in in test_public_api_handler.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from deploy_helpers import ACCOUNT, REGION, Cloud, deploy_args, run_cli

from deploy.public_api import function, http_api

ENDPOINT = "headline"
ENDPOINT_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"
FUNCTION = "headline-public-api"
LAMBDA_ROLE, GATEWAY_ROLE = "headline-public-api-lambda", "headline-public-api-gateway"


@pytest.fixture
def deployed(cloud: Cloud, artifact: Path) -> Cloud:
    result = run_cli(*deploy_args("--artifact", str(artifact)))
    assert result.exit_code == 0, result.output
    return cloud


def client(cloud: Cloud, service: str) -> Any:
    return cloud.client(service)


def expose(*extra: str) -> str:
    result = run_cli("expose", "--endpoint", ENDPOINT, *extra)
    assert result.exit_code == 0, result.output
    stdout: str = result.stdout
    return stdout


def rest_api(cloud: Cloud) -> dict[str, Any]:
    [api] = client(cloud, "apigateway").get_rest_apis()["items"]
    return api  # type: ignore[no-any-return]


def resources(cloud: Cloud, api_id: str) -> dict[str, dict[str, Any]]:
    items = client(cloud, "apigateway").get_resources(restApiId=api_id, embed=["methods"])["items"]
    return {item["path"]: item for item in items}


def inline_policy(cloud: Cloud, role: str) -> dict[str, Any]:
    iam = client(cloud, "iam")
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    return json.loads(document) if isinstance(document, str) else document  # type: ignore[no-any-return]


def nothing_left(cloud: Cloud) -> None:
    gateway, iam = client(cloud, "apigateway"), client(cloud, "iam")
    assert [a["name"] for a in gateway.get_rest_apis()["items"]] == ["someone-elses-api"]
    assert client(cloud, "apigatewayv2").get_apis()["Items"] == []
    assert gateway.get_usage_plans()["items"] == []
    assert gateway.get_api_keys()["items"] == []
    assert client(cloud, "lambda").list_functions()["Functions"] == []
    groups = client(cloud, "logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")
    assert groups["logGroups"] == []
    roles = {role["RoleName"] for role in iam.list_roles()["Roles"]}
    assert LAMBDA_ROLE not in roles and GATEWAY_ROLE not in roles
    assert "headline-sagemaker-execution" in roles


def test_api_key_flavour_end_to_end(deployed: Cloud) -> None:
    gateway = client(deployed, "apigateway")
    gateway.create_rest_api(name="someone-elses-api")  # must survive unexpose
    stdout = expose(
        "--auth", "api-key", "--cors-origin", "https://app.example.com",
        "--rate", "5", "--burst", "7", "--quota", "1000", "--model-timeout", "20",
    )  # fmt: skip
    api = next(a for a in gateway.get_rest_apis()["items"] if a["name"] == "headline-public-api")
    url = f"https://{api['id']}.execute-api.{REGION}.amazonaws.com/prod"
    assert url in stdout and "x-api-key" in stdout
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"]

    paths = resources(deployed, api["id"])
    classify, health = paths["/classify"]["resourceMethods"], paths["/health"]["resourceMethods"]
    assert set(classify) == {"POST", "OPTIONS"} and set(health) == {"GET", "OPTIONS"}
    assert classify["POST"]["apiKeyRequired"] is True and health["GET"]["apiKeyRequired"] is False
    fn = client(deployed, "lambda").get_function(FunctionName=FUNCTION)["Configuration"]
    integration = gateway.get_integration(
        restApiId=api["id"], resourceId=paths["/classify"]["id"], httpMethod="POST"
    )
    assert integration["type"] == "AWS_PROXY" and fn["FunctionArn"] in integration["uri"]
    assert integration["timeoutInMillis"] == 29000
    preflight = gateway.get_integration_response(
        restApiId=api["id"],
        resourceId=paths["/classify"]["id"],
        httpMethod="OPTIONS",
        statusCode="200",
    )
    origin = preflight["responseParameters"]["method.response.header.Access-Control-Allow-Origin"]
    assert origin == "'https://app.example.com'"

    stage = gateway.get_stage(restApiId=api["id"], stageName="prod")
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 5.0
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 7
    [plan] = gateway.get_usage_plans()["items"]
    assert plan["apiStages"] == [{"apiId": api["id"], "stage": "prod"}]
    assert plan["throttle"] == {"rateLimit": 5.0, "burstLimit": 7}
    assert plan["quota"] == {"limit": 1000, "period": "DAY"}
    [key] = gateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    assert key["name"] == "headline-public-api-key" and key["id"] in stdout
    assert key["value"] not in stdout  # the secret is printed only with --show-key

    # The function: the handler file as it is, limits below the integration timeout.
    assert (fn["Runtime"], fn["Handler"], fn["Timeout"]) == (
        "python3.12",
        "lambda_handler.handler",
        22,
    )
    assert fn["Environment"]["Variables"] == {
        "ENDPOINT_NAME": ENDPOINT, "INVOKE_TIMEOUT_S": "20", "MAX_BODY_BYTES": "262144",
        "MAX_TEXTS": "64", "ALLOWED_ORIGINS": "https://app.example.com",
    }  # fmt: skip
    digest = base64.b64encode(hashlib.sha256(function.package()).digest()).decode()
    assert fn["CodeSha256"] == digest
    # Its role: this one endpoint and its own logs, nothing else; only Lambda may assume it.
    role = client(deployed, "iam").get_role(RoleName=LAMBDA_ROLE)["Role"]
    assert fn["Role"] == role["Arn"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    statements = inline_policy(deployed, LAMBDA_ROLE)["Statement"]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("sagemaker:InvokeEndpoint", ENDPOINT_ARN),
        (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{FUNCTION}:*",
        ),
    ]
    # Only this API may invoke the function.
    policy = json.loads(client(deployed, "lambda").get_policy(FunctionName=FUNCTION)["Policy"])
    [grant] = policy["Statement"]
    assert grant["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert grant["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api['id']}/*"
    )
    [group] = client(deployed, "logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")[
        "logGroups"
    ]
    assert (group["logGroupName"], group["retentionInDays"]) == (f"/aws/lambda/{FUNCTION}", 14)

    status = run_cli("status", "--endpoint", ENDPOINT)
    assert status.exit_code == 0 and url in status.stdout
    again = run_cli("expose", "--endpoint", ENDPOINT)
    assert again.exit_code == 1 and "already has a public API" in again.stderr

    removed = run_cli("unexpose", "--endpoint", ENDPOINT, "--yes")
    assert removed.exit_code == 0, removed.output
    nothing_left(deployed)
    assert url not in run_cli("status", "--endpoint", ENDPOINT).stdout
    assert "no public API" in run_cli("unexpose", "--endpoint", ENDPOINT).stdout


def test_jwt_flavour_is_an_http_api_and_delete_removes_it(deployed: Cloud) -> None:
    client(deployed, "apigateway").create_rest_api(name="someone-elses-api")
    stdout = expose(
        "--auth", "jwt", "--jwt-issuer", "https://issuer.example.com/", "--jwt-audience", "app",
        "--cors-origin", "https://a.example.com", "--cors-origin", "https://b.example.com",
    )  # fmt: skip
    v2 = client(deployed, "apigatewayv2")
    [api] = v2.get_apis()["Items"]
    assert api["ApiEndpoint"] in stdout and "Authorization: Bearer" in stdout
    assert api["CorsConfiguration"]["AllowOrigins"] == [
        "https://a.example.com",
        "https://b.example.com",
    ]
    routes = {r["RouteKey"]: r for r in v2.get_routes(ApiId=api["ApiId"])["Items"]}
    assert routes["POST /classify"]["AuthorizationType"] == "JWT"
    assert routes["GET /health"]["AuthorizationType"] == "NONE"
    authorizer = v2.get_authorizer(
        ApiId=api["ApiId"], AuthorizerId=routes["POST /classify"]["AuthorizerId"]
    )
    assert authorizer["AuthorizerType"] == "JWT"
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["JwtConfiguration"] == {
        "Issuer": "https://issuer.example.com/",
        "Audience": ["app"],
    }
    [integration] = v2.get_integrations(ApiId=api["ApiId"])["Items"]
    assert (integration["IntegrationType"], integration["PayloadFormatVersion"]) == (
        "AWS_PROXY",
        "2.0",
    )
    assert integration["TimeoutInMillis"] == 30000
    [stage] = v2.get_stages(ApiId=api["ApiId"])["Items"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 10.0
    assert client(deployed, "apigateway").get_usage_plans()["items"] == []

    status = run_cli("status", "--endpoint", ENDPOINT)
    assert api["ApiEndpoint"] in status.stdout
    deleted = run_cli("delete", "--endpoint", ENDPOINT, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert "public API removed" in deleted.stdout
    nothing_left(deployed)


def test_iam_flavour_signs_the_classify_route(deployed: Cloud) -> None:
    stdout = expose("--auth", "iam")
    v2 = client(deployed, "apigatewayv2")
    [api] = v2.get_apis()["Items"]
    routes = {
        r["RouteKey"]: r["AuthorizationType"] for r in v2.get_routes(ApiId=api["ApiId"])["Items"]
    }
    assert routes == {"POST /classify": "AWS_IAM", "GET /health": "NONE"}
    assert "CorsConfiguration" not in api or not api["CorsConfiguration"]
    assert api["ApiEndpoint"] in stdout


def test_no_lambda_calls_sagemaker_directly(deployed: Cloud) -> None:
    client(deployed, "apigateway").create_rest_api(name="someone-elses-api")
    expose("--auth", "api-key", "--no-lambda")
    gateway = client(deployed, "apigateway")
    api = next(a for a in gateway.get_rest_apis()["items"] if a["name"] == "headline-public-api")
    paths = resources(deployed, api["id"])
    classify = paths["/classify"]["id"]
    method = gateway.get_method(restApiId=api["id"], resourceId=classify, httpMethod="POST")
    assert method["apiKeyRequired"] is True
    assert method["requestModels"] == {"application/json": "ClassifyRequest"}
    integration = gateway.get_integration(
        restApiId=api["id"], resourceId=classify, httpMethod="POST"
    )
    assert integration["type"] == "AWS"
    assert integration["uri"] == (
        f"arn:aws:apigateway:{REGION}:runtime.sagemaker:path/endpoints/{ENDPOINT}/invocations"
    )
    role = client(deployed, "iam").get_role(RoleName=GATEWAY_ROLE)["Role"]
    assert integration["credentials"] == role["Arn"]
    assert '"inputs"' in integration["requestTemplates"]["application/json"]
    patterns = {
        status: response.get("selectionPattern")
        for status, response in integration["integrationResponses"].items()
    }
    assert patterns["200"] is None and patterns["424"] == "424" and patterns["413"] == "413"
    assert (
        "OriginalStatusCode"
        in integration["integrationResponses"]["424"]["responseTemplates"]["application/json"]
    )
    health = gateway.get_integration(
        restApiId=api["id"], resourceId=paths["/health"]["id"], httpMethod="GET"
    )
    assert health["type"] == "MOCK"
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    [statement] = inline_policy(deployed, GATEWAY_ROLE)["Statement"]
    assert (statement["Action"], statement["Resource"]) == (
        "sagemaker:InvokeEndpoint",
        ENDPOINT_ARN,
    )
    assert client(deployed, "lambda").list_functions()["Functions"] == []
    assert run_cli("unexpose", "--endpoint", ENDPOINT, "--yes").exit_code == 0
    nothing_left(deployed)


def test_a_failure_half_way_removes_what_was_made(
    deployed: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    client(deployed, "apigateway").create_rest_api(name="someone-elses-api")

    def refused(*_: Any, **__: Any) -> None:
        error = {"Error": {"Code": "BadRequestException", "Message": "Invalid issuer"}}
        raise ClientError(error, "CreateAuthorizer")

    monkeypatch.setattr(http_api, "build", refused)
    result = run_cli(
        "expose", "--endpoint", ENDPOINT, "--auth", "jwt",
        "--jwt-issuer", "https://issuer.example.com", "--jwt-audience", "app",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "CreateAuthorizer failed (BadRequestException): Invalid issuer" in result.stderr
    nothing_left(deployed)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--auth", "jwt", "--no-lambda"], "drop --no-lambda"),
        (["--auth", "jwt"], "--jwt-issuer https://"),
        (["--auth", "jwt", "--jwt-issuer", "https://i.example.com"], "--jwt-audience"),
        (["--auth", "basic"], "--auth must be one of"),
        (["--cors-origin", "https://a.example.com/path"], "no path"),
        (["--cors-origin", "*", "--cors-origin", "https://a.example.com"], "give it alone"),
        (["--model-timeout", "29"], "--model-timeout must be 1-26"),
        (["--endpoint", "e" * 50], "at most 45 characters"),
    ],
)
def test_invalid_flags_fail_before_any_call(cloud: Cloud, flags: list[str], message: str) -> None:
    result = run_cli("expose", *flags)
    assert result.exit_code == 2
    assert message in result.stderr
    assert client(cloud, "apigateway").get_rest_apis()["items"] == []


def test_exposing_a_missing_endpoint_is_one_line(cloud: Cloud) -> None:
    result = run_cli("expose", "--endpoint", "nowhere")
    assert result.exit_code == 1
    assert "endpoint nowhere does not exist" in result.stderr
