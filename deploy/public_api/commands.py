"""`deploy expose` and `deploy unexpose`: a public HTTPS API in front of the endpoint."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from deploy import config
from deploy.endpoint import describe_endpoint
from deploy.errors import ConfigError, DeployError
from deploy.hosting_modes import Asynchronous, Components, mode_of
from deploy.inference_components import component_name
from deploy.options import (
    DEFAULT_ENDPOINT,
    Endpoint,
    Profile,
    Region,
    connect,
    guarded,
    out,
    show,
)
from deploy.public_api import lifecycle
from deploy.public_api.clients import PublicClients
from deploy.public_api.spec import AUTH_CHOICES, ExposeSpec


@guarded
def expose(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    auth: Annotated[
        str,
        typer.Option(
            help="api-key (REST API, usage plan), iam (SigV4) or jwt (HTTP API JWT authorizer)."
        ),
    ] = "api-key",
    no_lambda: Annotated[
        bool,
        typer.Option(
            "--no-lambda",
            help="API Gateway calls SageMaker directly (REST API, mapping templates).",
        ),
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Origin allowed by CORS, e.g. https://app.example.com (repeatable), or *."
        ),
    ] = None,
    rate: Annotated[
        float, typer.Option(help="Requests per second, steady (stage and per key).")
    ] = 10.0,
    burst: Annotated[int, typer.Option(help="Requests allowed in a burst.")] = 20,
    quota: Annotated[int, typer.Option(help="Requests per day per API key (api-key).")] = 10_000,
    jwt_issuer: Annotated[
        str | None, typer.Option(help="JWT issuer URL, the tokens' iss (jwt).")
    ] = None,
    jwt_audience: Annotated[
        list[str] | None, typer.Option(help="Accepted JWT audience, aud (jwt; repeatable).")
    ] = None,
    model_timeout: Annotated[
        int, typer.Option(help="Seconds the model may take before the caller gets 504.")
    ] = 25,
    max_body_kb: Annotated[int, typer.Option(help="Largest request body in KiB.")] = 256,
    max_texts: Annotated[int, typer.Option(help="Most texts in one request.")] = 64,
    show_key: Annotated[
        bool, typer.Option("--show-key", help="Print the API key's value (a secret).")
    ] = False,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Put a public HTTPS API (POST /classify, GET /health) in front of the endpoint."""
    config.resource_name(endpoint, "--endpoint")
    if auth not in AUTH_CHOICES:
        raise ConfigError(f"--auth must be one of {', '.join(AUTH_CHOICES)}")
    spec = ExposeSpec(
        endpoint=endpoint,
        auth=auth,
        use_lambda=not no_lambda,
        cors_origins=tuple(cors_origin or ()),
        rate_per_s=rate,
        burst=burst,
        quota_per_day=quota,
        jwt_issuer=jwt_issuer,
        jwt_audience=tuple(jwt_audience or ()),
        model_timeout_s=model_timeout,
        max_body_kb=max_body_kb,
        max_texts=max_texts,
    ).validate()
    aws = connect(region, profile)
    described = describe_endpoint(aws, endpoint)
    if described is None:
        raise DeployError(f"endpoint {endpoint} does not exist; deploy it first")
    spec = _for_hosting(aws, spec, described["EndpointConfigName"])
    clients = PublicClients(aws)
    exposed = lifecycle.expose(clients, spec, out)
    show("API", f"{spec.flavour.upper()} API {exposed.api_id} ({spec.auth} auth)")
    show("url", exposed.url)
    show("routes", "POST /classify, GET /health")
    header = ""
    if exposed.api_key_id:
        show("API key id", exposed.api_key_id)
        if show_key:
            value = clients.rest.get_api_key(apiKey=exposed.api_key_id, includeValue=True)
            show("API key", value["value"])
        else:
            out.print(
                f"  its value: aws apigateway get-api-key --api-key {exposed.api_key_id} "
                "--include-value --query value --output text",
                markup=False,
            )
        header = ' -H "x-api-key: $KEY"'
    elif spec.auth == "jwt":
        header = ' -H "Authorization: Bearer $TOKEN"'
    if spec.auth != "iam":
        out.print(
            f"try: curl -s {exposed.url}/classify{header} -H 'Content-Type: application/json' "
            """-d '{"text": "Stocks rally as the central bank holds rates"}'""",
            markup=False,
            soft_wrap=True,
        )


def _for_hosting(aws: Any, spec: ExposeSpec, config_name: str) -> ExposeSpec:
    """Name the component where the endpoint hosts one; refuse an asynchronous endpoint, which
    answers InvokeEndpointAsync only."""
    mode = mode_of(aws.sagemaker.describe_endpoint_config(EndpointConfigName=config_name))
    if mode == Asynchronous.mode:
        raise ConfigError(
            f"expose: {spec.endpoint} is asynchronous (InvokeEndpointAsync, answers in S3); "
            "a public API calls InvokeEndpoint"
        )
    if mode == Components.mode:
        return replace(spec, component=component_name(spec.endpoint))
    return spec


@guarded
def unexpose(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Remove the endpoint's public API: API, usage plan, key, function, log group, roles."""
    config.resource_name(endpoint, "--endpoint")
    clients = PublicClients(connect(region, profile))
    found = lifecycle.find(clients, endpoint)
    if found.empty:
        show("no public API", endpoint)
        return
    out.print(f"will delete: {found.summary()}", markup=False)
    if not yes and not typer.confirm("proceed?", default=False):
        raise typer.Exit(1)
    lifecycle.unexpose(clients, found, out)
