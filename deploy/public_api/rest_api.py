"""The REST API flavour: API keys with a usage plan, IAM auth, or the direct SageMaker
integration (`--no-lambda`). Regional endpoint, one stage, stage-wide throttling."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deploy.aws import TAG_KEY, TAG_VALUE
from deploy.public_api import templates
from deploy.public_api.clients import PublicClients
from deploy.public_api.spec import ExposeSpec

JSON = "application/json"
ALLOWED_HEADERS = (
    "Content-Type,X-Api-Key,Authorization,X-Request-Id,X-Amz-Date,X-Amz-Security-Token"
)
ORIGIN_HEADER = "method.response.header.Access-Control-Allow-Origin"
COMPONENT_HEADER = "integration.request.header.X-Amzn-SageMaker-Inference-Component"
# API Gateway's own answers (missing key, throttled, timed out) in our error shape; the message
# as a JSON string: `$context.error.messageString` is API Gateway's quoted, escaped message.
GATEWAY_RESPONSES = {
    "DEFAULT_4XX": ("gateway_error", "$context.error.messageString"),
    "DEFAULT_5XX": ("gateway_error", "$context.error.messageString"),
    "INTEGRATION_TIMEOUT": (
        "timeout",
        json.dumps("the model did not answer within the integration timeout"),
    ),
}


@dataclass(frozen=True)
class RestApi:
    api_id: str
    url: str
    api_key_id: str | None = None
    usage_plan_id: str | None = None


def url_of(region: str, api_id: str, stage: str) -> str:
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"


def build(
    clients: PublicClients,
    spec: ExposeSpec,
    function_arn: str | None = None,
    gateway_role_arn: str | None = None,
) -> RestApi:
    """Create the API, its routes and stage (and usage plan and key for `api-key`)."""
    rest = clients.rest
    created = rest.create_rest_api(
        name=spec.names.api,
        description=f"Public API for SageMaker endpoint {spec.endpoint}",
        endpointConfiguration={"types": ["REGIONAL"]},
        apiKeySource="HEADER",
        tags={TAG_KEY: TAG_VALUE, "endpoint": spec.endpoint},
    )
    api_id = str(created["id"])
    root = created.get("rootResourceId") or rest.get_resources(restApiId=api_id)["items"][0]["id"]
    classify = rest.create_resource(restApiId=api_id, parentId=root, pathPart="classify")["id"]
    health = rest.create_resource(restApiId=api_id, parentId=root, pathPart="health")["id"]
    if function_arn:
        _lambda_routes(clients, spec, api_id, classify, health, function_arn)
    else:
        assert gateway_role_arn, "the direct integration needs its role"
        _direct_routes(clients, spec, api_id, classify, health, gateway_role_arn)
    if spec.cors_origins:
        for resource, methods in ((classify, "POST,OPTIONS"), (health, "GET,OPTIONS")):
            _preflight(clients, spec, api_id, resource, methods)
    _gateway_responses(clients, spec, api_id)
    rest.create_deployment(restApiId=api_id, stageName=spec.stage, description="deploy expose")
    rest.update_stage(
        restApiId=api_id,
        stageName=spec.stage,
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(spec.rate_per_s)},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(spec.burst)},
        ],
    )
    url = url_of(clients.region, api_id, spec.stage)
    if spec.auth != "api-key":
        return RestApi(api_id, url)
    plan_id, key_id = _usage_plan(clients, spec, api_id)
    return RestApi(api_id, url, key_id, plan_id)


def _method(
    clients: PublicClients, spec: ExposeSpec, api_id: str, resource: str, verb: str, **extra: Any
) -> None:
    protected = verb == "POST"  # /health stays open: it never calls the model
    clients.rest.put_method(
        restApiId=api_id,
        resourceId=resource,
        httpMethod=verb,
        authorizationType="AWS_IAM" if protected and spec.auth == "iam" else "NONE",
        apiKeyRequired=protected and spec.auth == "api-key",
        **extra,
    )


def _lambda_routes(
    clients: PublicClients,
    spec: ExposeSpec,
    api_id: str,
    classify: str,
    health: str,
    function_arn: str,
) -> None:
    uri = (
        f"arn:aws:apigateway:{clients.region}:lambda:path/2015-03-31/functions/"
        f"{function_arn}/invocations"
    )
    for resource, verb in ((classify, "POST"), (health, "GET")):
        _method(clients, spec, api_id, resource, verb)
        clients.rest.put_integration(
            restApiId=api_id,
            resourceId=resource,
            httpMethod=verb,
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=uri,
            timeoutInMillis=spec.integration_timeout_ms,
        )


def _direct_routes(
    clients: PublicClients,
    spec: ExposeSpec,
    api_id: str,
    classify: str,
    health: str,
    role_arn: str,
) -> None:
    rest = clients.rest
    rest.create_model(
        restApiId=api_id,
        name="ClassifyRequest",
        contentType=JSON,
        schema=templates.request_schema(spec),
    )
    validator = rest.create_request_validator(
        restApiId=api_id, name="body", validateRequestBody=True, validateRequestParameters=False
    )
    _method(
        clients,
        spec,
        api_id,
        classify,
        "POST",
        requestValidatorId=validator["id"],
        requestModels={JSON: "ClassifyRequest"},
    )
    rest.put_integration(
        restApiId=api_id,
        resourceId=classify,
        httpMethod="POST",
        type="AWS",
        integrationHttpMethod="POST",
        uri=(
            f"arn:aws:apigateway:{clients.region}:runtime.sagemaker:path/endpoints/"
            f"{spec.endpoint}/invocations"
        ),
        credentials=role_arn,
        requestParameters={
            "integration.request.header.Content-Type": f"'{JSON}'",
            "integration.request.header.Accept": f"'{JSON}'",
            # InvokeEndpoint's InferenceComponentName travels as this header.
            **({COMPONENT_HEADER: f"'{spec.component}'"} if spec.component else {}),
        },
        requestTemplates={JSON: templates.DIRECT_REQUEST},
        passthroughBehavior="NEVER",
        timeoutInMillis=spec.integration_timeout_ms,
    )
    _respond(clients, spec, api_id, classify, "POST", "200", None, templates.DIRECT_SUCCESS)
    for pattern, status, body in templates.DIRECT_ERRORS:
        _respond(clients, spec, api_id, classify, "POST", status, pattern, body)
    _method(clients, spec, api_id, health, "GET")
    rest.put_integration(
        restApiId=api_id,
        resourceId=health,
        httpMethod="GET",
        type="MOCK",
        requestTemplates={JSON: '{"statusCode": 200}'},
    )
    _respond(clients, spec, api_id, health, "GET", "200", None, templates.HEALTH)


def _respond(
    clients: PublicClients,
    spec: ExposeSpec,
    api_id: str,
    resource: str,
    verb: str,
    status: str,
    pattern: str | None,
    body: str,
) -> None:
    """A method response and the integration response that fills it (with CORS)."""
    origins = spec.cors_origins
    static = templates.static_origin(origins)
    declared = {ORIGIN_HEADER: False} if origins else {}
    clients.rest.put_method_response(
        restApiId=api_id,
        resourceId=resource,
        httpMethod=verb,
        statusCode=status,
        responseParameters=declared,
        responseModels={JSON: "Empty"},
    )
    extra: dict[str, Any] = {"selectionPattern": pattern} if pattern else {}
    clients.rest.put_integration_response(
        restApiId=api_id,
        resourceId=resource,
        httpMethod=verb,
        statusCode=status,
        responseParameters={ORIGIN_HEADER: static} if static else {},
        responseTemplates={JSON: templates.origin_override(origins) + body},
        **extra,
    )


def _preflight(
    clients: PublicClients, spec: ExposeSpec, api_id: str, resource: str, methods: str
) -> None:
    """OPTIONS answered by API Gateway itself (no auth, no Lambda)."""
    rest = clients.rest
    rest.put_method(
        restApiId=api_id, resourceId=resource, httpMethod="OPTIONS", authorizationType="NONE"
    )
    rest.put_integration(
        restApiId=api_id,
        resourceId=resource,
        httpMethod="OPTIONS",
        type="MOCK",
        requestTemplates={JSON: '{"statusCode": 200}'},
    )
    headers = {
        "method.response.header.Access-Control-Allow-Methods": f"'{methods}'",
        "method.response.header.Access-Control-Allow-Headers": f"'{ALLOWED_HEADERS}'",
        "method.response.header.Access-Control-Max-Age": "'600'",
    }
    static = templates.static_origin(spec.cors_origins)
    if static:
        headers[ORIGIN_HEADER] = static
    rest.put_method_response(
        restApiId=api_id,
        resourceId=resource,
        httpMethod="OPTIONS",
        statusCode="200",
        responseParameters={name: False for name in [*headers, ORIGIN_HEADER]},
    )
    rest.put_integration_response(
        restApiId=api_id,
        resourceId=resource,
        httpMethod="OPTIONS",
        statusCode="200",
        responseParameters=headers,
        responseTemplates={JSON: templates.origin_override(spec.cors_origins)},
    )


def _gateway_responses(clients: PublicClients, spec: ExposeSpec, api_id: str) -> None:
    static = templates.static_origin(spec.cors_origins)
    origin = "gatewayresponse.header.Access-Control-Allow-Origin"
    # Several origins: a gateway response cannot test the Origin against the list, so it echoes
    # it (these answers carry an error message only); one origin or *: that value.
    if static:
        headers = {origin: static}
    else:
        headers = {origin: "method.request.header.Origin"} if spec.cors_origins else {}
    for response_type, (kind, message) in GATEWAY_RESPONSES.items():
        body = (
            '{"error": ' + message + ', "type": "' + kind + '", "request_id": "$context.requestId"}'
        )
        clients.rest.put_gateway_response(
            restApiId=api_id,
            responseType=response_type,
            responseParameters=headers,
            responseTemplates={JSON: body},
        )


def _usage_plan(clients: PublicClients, spec: ExposeSpec, api_id: str) -> tuple[str, str]:
    """Per-key throttle and daily quota, and the one key it admits."""
    rest = clients.rest
    owned = {TAG_KEY: TAG_VALUE, "endpoint": spec.endpoint}
    plan = rest.create_usage_plan(
        name=spec.names.usage_plan,
        description=f"Public API for SageMaker endpoint {spec.endpoint}",
        apiStages=[{"apiId": api_id, "stage": spec.stage}],
        throttle={"rateLimit": spec.rate_per_s, "burstLimit": spec.burst},
        quota={"limit": spec.quota_per_day, "period": "DAY"},
        tags=owned,
    )
    key = rest.create_api_key(name=spec.names.api_key, enabled=True, tags=owned)
    rest.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    return str(plan["id"]), str(key["id"])
