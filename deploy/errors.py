"""Every failure the CLI can meet, turned into one actionable line.

Commands raise `DeployError` for problems they detect themselves; AWS and botocore errors are
translated by `explain` at the CLI boundary, so no traceback ever reaches the user.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    WaiterError,
)

POLICY_HINT = "attach deploy/iam/deployer-policy.json to the caller"


class DeployError(Exception):
    """A problem with a one-line explanation for the user (exit code 1)."""


class ConfigError(DeployError):
    """Configuration that failed validation before any AWS call (exit code 2)."""


def _client_error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "")).strip().rstrip(".")
    operation = exc.operation_name
    lowered = message.lower()

    if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
        return f"access denied for {operation}: {message or 'no permission'}; {POLICY_HINT}"
    if code in {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
    }:
        return (
            f"AWS rejected the credentials ({code}): refresh them (aws sso login / aws configure)"
        )
    if code == "ResourceLimitExceeded":
        return (
            f"quota exceeded in {operation}: {message}; request an increase in Service Quotas "
            "(SageMaker, '<instance type> for endpoint usage') or choose a smaller --instance-type"
        )
    if code in {"ImageNotFoundException"} or ("image" in lowered and "not found" in lowered):
        return (
            f"image not found ({operation}): {message}; push it first with `python -m deploy push`"
        )
    if code == "RepositoryNotFoundException":
        return f"ECR repository not found: {message}; create it with `python -m deploy push`"
    if code in {"NoSuchBucket"}:
        return f"S3 bucket not found ({operation}); create it or pass another --bucket"
    if code in {"NoSuchKey", "404"} and operation in {"HeadObject", "GetObject"}:
        return f"S3 object not found ({operation}); run `python -m deploy upload` first"
    if "assume" in lowered and "role" in lowered:
        return (
            f"SageMaker cannot assume the execution role ({operation}): {message}; check --role-arn "
            "and that its trust policy is deploy/iam/execution-role-trust.json"
        )
    if "cannot create already existing" in lowered or code in {
        "ResourceInUse",
        "ResourceInUseException",
        "RepositoryAlreadyExistsException",
        "ConflictException",
    }:
        return f"already exists ({operation}): {message}; choose another name or delete the old one"
    if code in {"ThrottlingException", "Throttling", "TooManyRequestsException"}:
        return f"AWS is throttling {operation}: wait a minute and run the command again"
    if code == "ModelError":
        return f"the model container answered with an error: {message}"
    detail = f": {message}" if message else ""
    return f"{operation} failed ({code}){detail}"


def explain(exc: BaseException) -> str:
    """One line saying what went wrong and what to do next."""
    if isinstance(exc, DeployError):
        return str(exc)
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return "no AWS credentials found: set AWS_PROFILE or run `aws configure` (or aws sso login)"
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach AWS: {exc}; check --region, the network and any AWS_ENDPOINT_URL"
    if isinstance(exc, WaiterError):
        return f"gave up waiting: {exc}"
    if isinstance(exc, BotoCoreError):
        return f"AWS client error: {exc}"
    return f"{type(exc).__name__}: {exc}"
