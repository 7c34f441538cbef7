"""The IAM policies in deploy/iam/ are least privilege and cover every call the CLI makes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import IMAGE, REPOSITORY, Cloud, deploy_args, make_artifact, run_cli

from deploy import ecr
from deploy.aws import Aws

IAM = Path(__file__).resolve().parents[2] / "deploy" / "iam"
# S3 operations are authorised by differently named actions.
S3_ACTIONS = {
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "ListObjectsV2": "ListBucket",
    "DeleteObjects": "DeleteObject",
}

# IAM's service prefix where it differs from the API's signing name.
SIGNING_TO_IAM = {"monitoring": "cloudwatch"}

# expose in every flavour, status, unexpose; the last one stays for `delete` to remove.
PUBLIC_API_STEPS = [
    ["expose", "--endpoint", "headline", "--auth", "api-key", "--cors-origin", "https://a.example.com"],
    ["status", "--endpoint", "headline"],
    ["unexpose", "--endpoint", "headline", "--yes"],
    ["expose", "--endpoint", "headline", "--auth", "iam", "--no-lambda"],
    ["unexpose", "--endpoint", "headline", "--yes"],
    ["expose", "--endpoint", "headline", "--auth", "jwt", "--jwt-issuer", "https://id.example.com", "--jwt-audience", "app"],
]  # fmt: skip
# Authorised on a call without being a call of their own: tags on create, passing a role.
PUBLIC_API_IMPLIED = {"lambda:TagResource", "logs:TagResource", "iam:TagRole", "iam:PassRole"}


def _policy(name: str) -> dict[str, Any]:
    return json.loads((IAM / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _allowed(policy: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


@pytest.mark.parametrize(
    "name",
    [
        "deployer-policy.json",
        "execution-role-policy.json",
        "public-api-lambda-policy.json",
        "public-api-gateway-policy.json",
    ],
)
def test_policies_grant_named_actions_only(name: str) -> None:
    for action in _allowed(_policy(name)):
        assert "*" not in action, f"{name}: wildcard action {action}"
    assert "AdministratorAccess" not in (IAM / name).read_text(encoding="utf-8")


def test_execution_role_is_assumable_by_sagemaker_only() -> None:
    [statement] = _policy("execution-role-trust.json")["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"


def test_deployer_policy_covers_every_call_of_the_whole_lifecycle(
    cloud: Cloud, artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    called: set[str] = set()
    original = Aws.client

    def recording_client(self: Aws, service: str) -> Any:
        client = original(self, service)

        def record(model: Any, **_: Any) -> None:
            prefix = SIGNING_TO_IAM.get(
                model.service_model.signing_name, model.service_model.signing_name
            )
            name = S3_ACTIONS.get(model.name, model.name) if prefix == "s3" else model.name
            if prefix == "apigateway":  # REST and HTTP APIs: the IAM actions are HTTP verbs
                name = model.http["method"]
            called.add(f"{prefix}:{name}")

        client.meta.events.register("before-call", record)
        return client

    monkeypatch.setattr(Aws, "client", recording_client)
    aws = Aws("eu-west-1")
    ecr.ensure_repository(aws, REPOSITORY, immutable=True, keep=5)
    aws.ecr.get_authorization_token()
    cloud.endpoint_results('{"predictions": []}')
    newer = make_artifact(tmp_path / "newer", accuracy=0.95)
    steps = [
        ["upload", str(artifact)],
        ["register", str(artifact), "--min-accuracy", "0.8", "--image", IMAGE],
        ["approve", "headline-topics"],
        deploy_args("--package", "headline-topics"),
        deploy_args("--artifact", str(newer), "--smoke-text", "hello"),
        ["rollback", "--endpoint", "headline", "--poll-interval", "0.01"],
        ["autoscale", "--endpoint", "headline"],
        ["status", "--endpoint", "headline", "--group", "headline-topics"],
        ["invoke", "--endpoint", "headline", "--text", "hello"],
        ["transform", "--input", "s3://models-bucket/in/", "--artifact", str(artifact), "--image", IMAGE, "--poll-interval", "0.01"],
        *PUBLIC_API_STEPS,
        ["delete", "--endpoint", "headline", "--yes", "--images", "--artifacts"],
    ]  # fmt: skip
    for step in steps:
        result = run_cli(*step)
        assert result.exit_code == 0, (step, result.output)
    granted = _allowed(_policy("deployer-policy.json"))
    assert called - granted == set()
    assert {"sagemaker:UpdateEndpoint", "iam:GetRole", "s3:PutObject"} <= called
    # The public API's grants are all used (or needed by a call that carries tags or a role).
    public = _allowed({"Statement": [s for s in _policy("deployer-policy.json")["Statement"]
                                     if s["Sid"].startswith("PublicApi")]})  # fmt: skip
    assert public - called == PUBLIC_API_IMPLIED


@pytest.mark.parametrize(
    ("trust", "service"),
    [
        ("public-api-lambda-trust.json", "lambda.amazonaws.com"),
        ("public-api-gateway-trust.json", "apigateway.amazonaws.com"),
    ],
)
def test_public_api_roles_are_assumable_by_their_service_only(trust: str, service: str) -> None:
    [statement] = _policy(trust)["Statement"]
    assert statement["Principal"] == {"Service": service}
    assert statement["Action"] == "sts:AssumeRole"


def test_the_function_role_allows_exactly_what_the_handler_calls_on_one_endpoint(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # as Lambda sets it
    from deploy.public_api.lambda_handler import Classifier, HandlerConfig
    from deploy.public_api.roles import LAMBDA_POLICY, render

    handler = Classifier(HandlerConfig("headline", runtime_url=cloud.url))
    called: set[str] = set()
    handler.runtime.meta.events.register(
        "before-call",
        lambda model, **_: called.add(f"{model.service_model.signing_name}:{model.name}"),
    )
    cloud.endpoint_results('[{"label": "sports", "score": 0.9}]')
    event = {"httpMethod": "POST", "resource": "/classify", "body": '{"text": "Cup final"}'}
    assert handler(event)["statusCode"] == 200
    policy = render(
        LAMBDA_POLICY, REGION="eu-west-1", ACCOUNT_ID="123456789012",
        ENDPOINT_NAME="headline", FUNCTION_NAME="headline-public-api",
    )  # fmt: skip
    invoke, logs = policy["Statement"]
    assert called == {"sagemaker:InvokeEndpoint"} == {invoke["Action"]}
    assert invoke["Resource"] == "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/headline"
    # Lambda's runtime writes the function's logs with these two, into its own group only.
    assert logs["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert logs["Resource"].endswith(":log-group:/aws/lambda/headline-public-api:*")
    assert _allowed(policy) == {"sagemaker:InvokeEndpoint", *logs["Action"]}
