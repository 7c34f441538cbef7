"""The HTTP API flavour: IAM (SigV4) or a JWT authorizer in front of the Lambda function.

API Gateway answers CORS preflights itself from the API's CORS configuration; the `$default`
stage deploys every change and carries the stage-wide throttling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploy.aws import TAG_KEY, TAG_VALUE
from deploy.public_api.clients import PublicClients
from deploy.public_api.spec import ExposeSpec

CORS_HEADERS = [
    "content-type",
    "authorization",
    "x-request-id",
    "x-amz-date",
    "x-amz-security-token",
]


@dataclass(frozen=True)
class HttpApi:
    api_id: str
    url: str


def build(clients: PublicClients, spec: ExposeSpec, function_arn: str) -> HttpApi:
    http = clients.http
    extra: dict[str, Any] = {}
    if spec.cors_origins:
        extra["CorsConfiguration"] = {
            "AllowOrigins": list(spec.cors_origins),
            "AllowMethods": ["GET", "POST", "OPTIONS"],
            "AllowHeaders": CORS_HEADERS,
            "ExposeHeaders": ["x-request-id"],
            "MaxAge": 600,
        }
    created = http.create_api(
        Name=spec.names.api,
        ProtocolType="HTTP",
        Description=f"Public API for SageMaker endpoint {spec.endpoint}",
        Tags={TAG_KEY: TAG_VALUE, "endpoint": spec.endpoint},
        **extra,
    )
    api_id = str(created["ApiId"])
    auth: dict[str, Any] = {"AuthorizationType": "AWS_IAM"}
    if spec.auth == "jwt":
        authorizer = http.create_authorizer(
            ApiId=api_id,
            Name="jwt",
            AuthorizerType="JWT",
            IdentitySource=["$request.header.Authorization"],
            JwtConfiguration={"Issuer": spec.jwt_issuer, "Audience": list(spec.jwt_audience)},
        )
        auth = {"AuthorizationType": "JWT", "AuthorizerId": authorizer["AuthorizerId"]}
    integration = http.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=function_arn,
        PayloadFormatVersion="2.0",
        TimeoutInMillis=spec.integration_timeout_ms,
    )
    target = f"integrations/{integration['IntegrationId']}"
    http.create_route(ApiId=api_id, RouteKey="POST /classify", Target=target, **auth)
    # /health stays open: the function answers it without calling the model.
    http.create_route(ApiId=api_id, RouteKey="GET /health", Target=target, AuthorizationType="NONE")
    http.create_stage(
        ApiId=api_id,
        StageName=spec.stage,
        AutoDeploy=True,
        DefaultRouteSettings={
            "ThrottlingRateLimit": spec.rate_per_s,
            "ThrottlingBurstLimit": spec.burst,
        },
        Tags={TAG_KEY: TAG_VALUE, "endpoint": spec.endpoint},
    )
    return HttpApi(api_id, str(created["ApiEndpoint"]))
