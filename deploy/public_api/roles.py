"""The two roles `expose` may create, from the policy documents in deploy/iam/.

The documents there are exactly what gets attached, with REGION, ACCOUNT_ID, ENDPOINT_NAME and
FUNCTION_NAME filled in: the Lambda role may invoke this one endpoint and write its own logs;
the API Gateway role (for `--no-lambda`) may only invoke this one endpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from deploy.aws import tags
from deploy.public_api.clients import PublicClients

IAM_DIR = Path(__file__).resolve().parents[1] / "iam"
LAMBDA_TRUST, LAMBDA_POLICY = "public-api-lambda-trust.json", "public-api-lambda-policy.json"
GATEWAY_TRUST, GATEWAY_POLICY = "public-api-gateway-trust.json", "public-api-gateway-policy.json"


def render(document: str, **values: str) -> dict[str, Any]:
    """A policy document from deploy/iam/ with its placeholders filled in."""
    text = (IAM_DIR / document).read_text(encoding="utf-8")
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return json.loads(text)  # type: ignore[no-any-return]


def placeholders(clients: PublicClients, endpoint: str, function: str) -> dict[str, str]:
    # Endpoint ARNs are lower case whatever the case of the name.
    return {
        "REGION": clients.region,
        "ACCOUNT_ID": clients.account,
        "ENDPOINT_NAME": endpoint.lower(),
        "FUNCTION_NAME": function,
    }


def create_role(
    clients: PublicClients,
    name: str,
    trust: dict[str, Any],
    policy_name: str,
    policy: dict[str, Any],
    endpoint: str,
) -> str:
    """Create the role with its one inline policy; return its ARN."""
    role = clients.iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust),
        Description=f"headline-serve public API for endpoint {endpoint}",
        Tags=tags(endpoint=endpoint),
    )
    clients.iam.put_role_policy(
        RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(policy)
    )
    return str(role["Role"]["Arn"])


def role_exists(clients: PublicClients, name: str) -> bool:
    try:
        clients.iam.get_role(RoleName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return False
        raise
    return True


def delete_role(clients: PublicClients, name: str) -> bool:
    """Remove the role and its inline policies; False when it was not there."""
    if not role_exists(clients, name):
        return False
    for policy in clients.iam.list_role_policies(RoleName=name)["PolicyNames"]:
        clients.iam.delete_role_policy(RoleName=name, PolicyName=policy)
    clients.iam.delete_role(RoleName=name)
    return True
