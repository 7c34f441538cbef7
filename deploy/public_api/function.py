"""The Lambda function: the handler file zipped as it is, its log group, its invoke permission."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

from botocore.exceptions import ClientError

from deploy.aws import tags
from deploy.public_api.clients import PublicClients
from deploy.public_api.spec import ExposeSpec

HANDLER_FILE = Path(__file__).with_name("lambda_handler.py")
HANDLER = "lambda_handler.handler"
RUNTIME = "python3.12"
MEMORY_MB = 256
PERMISSION_ID = "api-gateway-invoke"
# A new role takes a few seconds to become assumable by Lambda (IAM is eventually consistent).
ROLE_PROPAGATION_S = 60.0


def package() -> bytes:
    """A zip holding only the handler (the runtime ships boto3); fixed timestamp, same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(HANDLER_FILE.name, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, HANDLER_FILE.read_bytes())
    return buffer.getvalue()


def environment(spec: ExposeSpec) -> dict[str, str]:
    """The handler's settings (see the docstring of lambda_handler.py)."""
    return {
        "ENDPOINT_NAME": spec.endpoint,
        "INVOKE_TIMEOUT_S": str(spec.model_timeout_s),
        "MAX_BODY_BYTES": str(spec.max_body_kb * 1024),
        "MAX_TEXTS": str(spec.max_texts),
        "ALLOWED_ORIGINS": ",".join(spec.cors_origins),
        **({"INFERENCE_COMPONENT_NAME": spec.component} if spec.component else {}),
    }


def create_log_group(clients: PublicClients, spec: ExposeSpec) -> None:
    """Made here, with a retention, so the function's role needs no logs:CreateLogGroup."""
    try:
        clients.logs.create_log_group(
            logGroupName=spec.names.log_group,
            tags={tag["Key"]: tag["Value"] for tag in tags(endpoint=spec.endpoint)},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
            raise
    clients.logs.put_retention_policy(
        logGroupName=spec.names.log_group, retentionInDays=spec.log_retention_days
    )


def create_function(
    clients: PublicClients, spec: ExposeSpec, role_arn: str, retry_interval_s: float = 3.0
) -> str:
    """Create the function (retrying while the new role propagates); return its ARN."""
    deadline = time.monotonic() + ROLE_PROPAGATION_S
    while True:
        try:
            created = clients.functions.create_function(
                FunctionName=spec.names.function,
                Runtime=RUNTIME,
                Role=role_arn,
                Handler=HANDLER,
                Code={"ZipFile": package()},
                Description=f"Public API in front of SageMaker endpoint {spec.endpoint}",
                Timeout=spec.lambda_timeout_s,
                MemorySize=MEMORY_MB,
                Environment={"Variables": environment(spec)},
                Tags={tag["Key"]: tag["Value"] for tag in tags(endpoint=spec.endpoint)},
            )
            break
        except ClientError as exc:
            message = str(exc.response.get("Error", {}).get("Message", ""))
            if "cannot be assumed" not in message or time.monotonic() > deadline:
                raise
            time.sleep(retry_interval_s)
    clients.functions.get_waiter("function_active_v2").wait(FunctionName=spec.names.function)
    return str(created["FunctionArn"])


def allow_api(clients: PublicClients, spec: ExposeSpec, api_id: str) -> None:
    """Let this API (any stage, method and route) and nothing else invoke the function."""
    source = f"arn:aws:execute-api:{clients.region}:{clients.account}:{api_id}/*"
    clients.functions.add_permission(
        FunctionName=spec.names.function,
        StatementId=PERMISSION_ID,
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=source,
        SourceAccount=clients.account,
    )


def delete_function(clients: PublicClients, name: str) -> bool:
    try:
        clients.functions.delete_function(FunctionName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def delete_log_group(clients: PublicClients, name: str) -> bool:
    try:
        clients.logs.delete_log_group(logGroupName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True
