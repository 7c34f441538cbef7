"""Configuration is checked before any call; every failure is one actionable line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from deploy_helpers import IMAGE, Cloud, deploy_args, run_cli

from deploy.errors import explain


def _client_error(code: str, message: str, operation: str = "CreateEndpoint") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            _client_error("AccessDeniedException", "not authorized"),
            "deploy/iam/deployer-policy.json",
        ),
        (
            _client_error(
                "ResourceLimitExceeded",
                "account-level service limit 'ml.g5.xlarge for endpoint usage' is 0",
            ),
            "Service Quotas",
        ),
        (
            _client_error("ValidationException", "Could not assume role arn:aws:iam::1:role/x"),
            "trust policy",
        ),
        (
            _client_error("ValidationException", "Requested image 1.dkr.ecr/x:v2 not found"),
            "python -m deploy push",
        ),
        (
            _client_error("ValidationException", "Cannot create already existing endpoint"),
            "already exists",
        ),
        (_client_error("ExpiredTokenException", "token expired"), "refresh them"),
        (_client_error("ThrottlingException", "Rate exceeded"), "wait a minute"),
        (NoCredentialsError(), "no AWS credentials"),
        (EndpointConnectionError(endpoint_url="https://x"), "cannot reach AWS"),
    ],
)
def test_errors_become_one_actionable_line(error: Exception, expected: str) -> None:
    line = explain(error)
    assert expected in line
    assert "\n" not in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--region", "us-east-99"], "is not a SageMaker region"),
        (["--role-arn", "my-role"], "is not an IAM role ARN"),
        (["--instance-type", "c5.xlarge"], "must look like ml.c5.xlarge"),
        (["--endpoint", "bad_name!"], "must be 1-63 letters"),
        (["--capture-percent", "150"], "between 0 and 100"),
        (["--env", "NOEQUALS"], "must be KEY=VALUE"),
        ([], "exactly one of --artifact, --model-data or --package"),
    ],
)
def test_bad_configuration_fails_before_any_aws_call(
    args: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 9: a check that came after a call would fail differently.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("DEPLOY_ROLE_ARN", "arn:aws:iam::123456789012:role/r")
    result = run_cli("deploy", "--image", IMAGE, *args)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_role_arn_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEPLOY_ROLE_ARN", raising=False)
    result = run_cli("deploy", "--region", "eu-west-1", "--image", IMAGE)
    assert result.exit_code == 2
    assert "--role-arn is required (or set DEPLOY_ROLE_ARN)" in result.stderr


def test_existing_endpoint_in_transition_is_not_touched(cloud: Cloud, artifact: Path) -> None:
    cloud.scripts.endpoint("headline", *["Creating"] * 500)
    run_cli(*deploy_args("--artifact", str(artifact), "--timeout", "0.05"))
    result = run_cli(*deploy_args("--artifact", str(artifact)))
    assert result.exit_code == 1
    assert "is Creating; wait until it settles" in result.stderr


def test_the_real_entry_point_prints_no_traceback(cloud: Cloud, artifact: Path) -> None:
    """`python -m deploy` in a subprocess: exit code and stderr as a user sees them."""
    environment = dict(os.environ)
    environment["DEPLOY_ROLE_ARN"] = "arn:aws:iam::123456789012:role/does-not-exist"
    completed = subprocess.run(
        [sys.executable, "-m", "deploy", *deploy_args("--artifact", str(artifact))],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stderr.startswith(
        "error: execution role arn:aws:iam::123456789012:role/does-not-exist does not exist"
    )
    assert "Traceback" not in completed.stderr + completed.stdout


def test_a_model_error_names_the_container_status_and_the_logs() -> None:
    """sagemaker-runtime's ModelError (moto cannot produce one): a stubbed real client."""
    import boto3
    from botocore.stub import Stubber

    from deploy import invoke
    from deploy.aws import Aws
    from deploy.errors import DeployError

    aws = Aws("eu-west-1")
    client = boto3.client(
        "sagemaker-runtime",
        region_name="eu-west-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    aws.__dict__["runtime"] = client  # the cached_property's slot
    with Stubber(client) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code="ModelError",
            service_message="Received client error (400) from primary",
            http_status_code=424,
            modeled_fields={
                "OriginalStatusCode": 400,
                "OriginalMessage": '{"error": "body has neither inputs nor instances"}',
                "LogStreamArn": "arn:aws:logs:eu-west-1:1:log-group:/aws/sagemaker/Endpoints/e",
            },
        )
        with pytest.raises(DeployError) as raised:
            invoke.invoke(aws, "e", b"{}", "application/json", "application/json")
    message = str(raised.value)
    assert message.startswith("the model answered 400: ")
    assert "neither inputs nor instances" in message and "/aws/sagemaker/Endpoints/e" in message


def test_an_existing_name_from_the_api_reads_as_already_exists(cloud: Cloud) -> None:
    ecr = cloud.client("ecr")
    with pytest.raises(ClientError) as raised:
        ecr.create_repository(repositoryName="headline-serve")
    line = explain(raised.value)
    assert line.startswith("already exists (CreateRepository)")
    assert "choose another name or delete the old one" in line


def test_versioned_names_never_collide_and_stay_within_limits() -> None:
    from deploy import names

    made = {names.versioned("headline-topics") for _ in range(50)}
    assert len(made) == 50
    endpoint = "e" * 63  # the longest endpoint name: its versions are truncated, still found
    long_name = names.versioned(endpoint)
    assert len(long_name) == 63 and names.belongs_to(long_name, endpoint)
    assert names.belongs_to(names.versioned("headline"), "headline")
    assert not names.belongs_to("headline-legacy", "headline")
