"""expose, find, unexpose: the whole public API of one endpoint, built and removed as a unit.

Everything is found again by the names `spec.Names` derives from the endpoint and, for API
Gateway resources, by our `managed-by` tag, so nothing else in the account is touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console

from deploy.aws import TAG_KEY, TAG_VALUE
from deploy.errors import DeployError
from deploy.public_api import function, http_api, rest_api, roles
from deploy.public_api.clients import PublicClients
from deploy.public_api.spec import ExposeSpec, Flavour, Names


@dataclass(frozen=True)
class Exposed:
    flavour: Flavour
    api_id: str
    url: str
    api_key_id: str | None = None


@dataclass
class Found:
    """What exists of one endpoint's public API."""

    names: Names
    rest_apis: list[str] = field(default_factory=list)
    http_apis: list[dict[str, Any]] = field(default_factory=list)
    usage_plans: list[dict[str, Any]] = field(default_factory=list)
    api_keys: list[str] = field(default_factory=list)
    function: bool = False
    log_group: bool = False
    roles: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.rest_apis
            or self.http_apis
            or self.usage_plans
            or self.api_keys
            or self.function
            or self.log_group
            or self.roles
        )

    def urls(self, region: str) -> list[str]:
        return [rest_api.url_of(region, api, "prod") for api in self.rest_apis] + [
            str(api["ApiEndpoint"]) for api in self.http_apis
        ]

    def summary(self) -> str:
        parts = [
            f"{len(self.rest_apis) + len(self.http_apis)} APIs",
            f"{len(self.usage_plans)} usage plans",
            f"{len(self.api_keys)} API keys",
            f"function {self.names.function}" if self.function else "",
            f"log group {self.names.log_group}" if self.log_group else "",
            f"roles {', '.join(self.roles)}" if self.roles else "",
        ]
        return ", ".join(part for part in parts if part)


def _ours(item: dict[str, Any], name: str, tag_field: str) -> bool:
    return (
        item.get("name", item.get("Name")) == name
        and (item.get(tag_field) or {}).get(TAG_KEY) == TAG_VALUE
    )


def _http_apis(clients: PublicClients, names: Names) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:  # apigatewayv2 has no paginator for GetApis
        page = clients.http.get_apis(**({"NextToken": token} if token else {}))
        found += [item for item in page["Items"] if _ours(item, names.api, "Tags")]
        token = page.get("NextToken")
        if not token:
            return found


def find(clients: PublicClients, endpoint: str) -> Found:
    names = Names(endpoint)
    found = Found(names)
    rest = clients.rest
    for page in rest.get_paginator("get_rest_apis").paginate():
        found.rest_apis += [item["id"] for item in page["items"] if _ours(item, names.api, "tags")]
    for page in rest.get_paginator("get_usage_plans").paginate():
        found.usage_plans += [i for i in page["items"] if _ours(i, names.usage_plan, "tags")]
    for page in rest.get_paginator("get_api_keys").paginate(nameQuery=names.api_key):
        found.api_keys += [
            item["id"] for item in page["items"] if _ours(item, names.api_key, "tags")
        ]
    found.http_apis = _http_apis(clients, names)
    try:
        clients.functions.get_function(FunctionName=names.function)
        found.function = True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    groups = clients.logs.describe_log_groups(logGroupNamePrefix=names.log_group)["logGroups"]
    found.log_group = any(group["logGroupName"] == names.log_group for group in groups)
    found.roles = [
        role for role in (names.lambda_role, names.gateway_role) if roles.role_exists(clients, role)
    ]
    return found


def expose(clients: PublicClients, spec: ExposeSpec, console: Console) -> Exposed:
    """Build it all; on any failure remove what was made, so a retry starts clean."""
    existing = find(clients, spec.endpoint)
    if not existing.empty:
        raise DeployError(
            f"endpoint {spec.endpoint} already has a public API ({existing.summary()}); "
            "run `python -m deploy unexpose` first"
        )
    try:
        return _build(clients, spec, console)
    except BaseException:
        console.print("expose failed: removing what it made")
        unexpose(clients, find(clients, spec.endpoint), console)
        raise


def _build(clients: PublicClients, spec: ExposeSpec, console: Console) -> Exposed:
    names = spec.names
    values = roles.placeholders(clients, spec.endpoint, names.function)
    if not spec.use_lambda:
        role_arn = roles.create_role(
            clients,
            names.gateway_role,
            roles.render(roles.GATEWAY_TRUST, **values),
            names.role_policy,
            roles.render(roles.GATEWAY_POLICY, **values),
            spec.endpoint,
        )
        console.print(f"role {names.gateway_role} (API Gateway may invoke {spec.endpoint})")
        built = rest_api.build(clients, spec, gateway_role_arn=role_arn)
        return Exposed("rest", built.api_id, built.url, built.api_key_id)
    function.create_log_group(clients, spec)
    role_arn = roles.create_role(
        clients,
        names.lambda_role,
        roles.render(roles.LAMBDA_TRUST, **values),
        names.role_policy,
        roles.render(roles.LAMBDA_POLICY, **values),
        spec.endpoint,
    )
    console.print(f"role {names.lambda_role} (invoke {spec.endpoint}, write its own logs)")
    function_arn = function.create_function(clients, spec, role_arn)
    console.print(f"function {names.function} ({function.RUNTIME})")
    if spec.flavour == "rest":
        built_rest = rest_api.build(clients, spec, function_arn=function_arn)
        exposed = Exposed("rest", built_rest.api_id, built_rest.url, built_rest.api_key_id)
    else:
        built_http = http_api.build(clients, spec, function_arn)
        exposed = Exposed("http", built_http.api_id, built_http.url)
    function.allow_api(clients, spec, exposed.api_id)
    return exposed


def unexpose(clients: PublicClients, found: Found, console: Console) -> None:
    """Remove what `find` found: plans before their APIs, the function before its role."""
    rest = clients.rest
    for plan in found.usage_plans:
        stages = [f"{s['apiId']}:{s['stage']}" for s in plan.get("apiStages", [])]
        if stages:  # a plan still attached to a stage cannot be deleted
            rest.update_usage_plan(
                usagePlanId=plan["id"],
                patchOperations=[
                    {"op": "remove", "path": "/apiStages", "value": s} for s in stages
                ],
            )
        rest.delete_usage_plan(usagePlanId=plan["id"])
    for key in found.api_keys:
        rest.delete_api_key(apiKey=key)
    for api in found.rest_apis:
        rest.delete_rest_api(restApiId=api)
    for http in found.http_apis:
        clients.http.delete_api(ApiId=http["ApiId"])
    if found.function:
        function.delete_function(clients, found.names.function)
    if found.log_group:
        function.delete_log_group(clients, found.names.log_group)
    for role in found.roles:
        roles.delete_role(clients, role)
    if not found.empty:
        console.print(f"public API removed: {found.summary()}")


def public_urls(clients: PublicClients, endpoint: str) -> list[str] | None:
    """The URLs of the endpoint's public API (for `status`): APIs only, fewer calls than find.

    None when the caller may not list API Gateway APIs (a deployer policy from before
    `expose`): `status` says so instead of failing.
    """
    names = Names(endpoint)
    try:
        rest = [
            item["id"]
            for page in clients.rest.get_paginator("get_rest_apis").paginate()
            for item in page["items"]
            if _ours(item, names.api, "tags")
        ]
        http = _http_apis(clients, names)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"AccessDenied", "AccessDeniedException"}:
            return None
        raise
    return Found(names, rest_apis=rest, http_apis=http).urls(clients.region)
