"""The IAM policies in deploy/iam/ are least privilege and cover every call the CLI makes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_calls import Recorder, iam_action
from deploy_helpers import IMAGE, REPOSITORY, Cloud, deploy_args, make_artifact, run_cli

from deploy import ecr
from deploy.aws import Aws

IAM = Path(__file__).resolve().parents[2] / "deploy" / "iam"

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
            called.add(iam_action(model))

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


# Granted, yet never a boto3 call of the CLI's own: each with the reason.
NEVER_CALLED_BY_BOTO3 = {
    "ecr:BatchCheckLayerAvailability": "docker push sends it, with GetAuthorizationToken's token",
    "ecr:InitiateLayerUpload": "docker push",
    "ecr:UploadLayerPart": "docker push",
    "ecr:CompleteLayerUpload": "docker push",
    "ecr:PutImage": "docker push",
    "ecr:BatchGetImage": "docker push reads the manifest back (AWS's push policy grants it)",
    "cloudwatch:QueryMetrics": "the PromQL query API is SigV4-signed HTTP, not a boto3 call",
    "s3:AbortMultipartUpload": "boto3's transfer manager sends it when a multipart upload fails",
    "kms:GenerateDataKey": "S3 asks KMS when an upload names --kms-key-id",
    "kms:Decrypt": "S3 asks KMS when a KMS-encrypted object is read",
    "iam:PassRole": "authorised on CreateModel, CreateFunction and PutIntegration",
    "iam:CreateServiceLinkedRole": "Application Auto Scaling creates its role on first use",
    "sagemaker:AddTags": "authorised on every Create call that carries Tags",
    "ecr:TagResource": "authorised on CreateRepository with tags",
    "lambda:TagResource": "authorised on CreateFunction with tags",
    "logs:TagResource": "authorised on CreateLogGroup with tags",
    "iam:TagRole": "authorised on CreateRole with tags",
}


def test_every_granted_action_is_called_by_some_test(
    aws_actions: Recorder, request: pytest.FixtureRequest
) -> None:
    """The other half of least privilege, over the whole deploy suite: every call the CLI made
    is granted, and every grant is used by some call (or listed above with its reason).

    conftest runs this test last and records every session's calls (aws_calls)."""
    selected = {Path(str(item.path)).name for item in request.session.items}
    files = {path.name for path in Path(__file__).parent.glob("test_*.py")}
    if request.config.option.keyword or not files <= selected:
        missing = ", ".join(sorted(files - selected)) or "none"
        pytest.skip(
            f"needs the whole tests/deploy suite in one session (no -k); missing: {missing}"
        )
    granted = _allowed(_policy("deployer-policy.json"))
    assert aws_actions.attempted - granted == set(), "called but not granted"
    assert granted - aws_actions.answered - set(NEVER_CALLED_BY_BOTO3) == set(), (
        "granted but no test calls it: remove the grant, or test the command that needs it"
    )
    assert set(NEVER_CALLED_BY_BOTO3) <= granted
    assert set(NEVER_CALLED_BY_BOTO3) & aws_actions.answered == set(), "called after all"


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


def test_deployer_policy_covers_the_hosting_modes(
    cloud: Cloud,
    artifact: Path,
    serving_container: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Serverless, asynchronous (answered through S3 by a real server) and inference
    components: deployed, updated, invoked and deleted, every call granted."""
    import fake_hosting

    called: set[str] = set()
    original = Aws.client

    def recording_client(self: Aws, service: str) -> Any:
        client = original(self, service)
        client.meta.events.register("before-call", lambda model, **_: called.add(iam_action(model)))
        return client

    monkeypatch.setattr(Aws, "client", recording_client)
    fake_hosting.STATE.containers["headline-async"] = serving_container
    source = tmp_path / "batch.jsonl"
    source.write_text('{"id": 1, "inputs": "Stocks rally"}\n', encoding="utf-8")
    cloud.endpoint_results('[{"label": "business", "score": 0.9}]')

    def deploy(endpoint: str, *flags: str) -> list[str]:
        return ["deploy", "--endpoint", endpoint, "--artifact", str(artifact), "--image", IMAGE,
                "--poll-interval", "0.01", *flags]  # fmt: skip

    steps = [
        deploy("headline-serverless", "--serverless", "--memory", "1024"),
        deploy("headline-async", "--async"),
        ["invoke", "--endpoint", "headline-async", "--async", "--input", str(source), "--poll-interval", "0.05"],
        deploy("headline-ic", "--inference-component"),
        deploy("headline-ic", "--inference-component", "--copies", "2"),
        ["invoke", "--endpoint", "headline-ic", "--component", "headline-ic-component", "--text", "hi"],
        *(["delete", "--endpoint", name, "--yes"] for name in ("headline-serverless", "headline-async", "headline-ic")),
    ]  # fmt: skip
    for step in steps:
        result = run_cli(*step)
        assert result.exit_code == 0, (step, result.output)
    assert called - _allowed(_policy("deployer-policy.json")) == set()
    modes = {
        f"sagemaker:{verb}InferenceComponent" for verb in ("Create", "Describe", "Update", "Delete")
    }
    assert modes | {"sagemaker:ListInferenceComponents", "sagemaker:InvokeEndpointAsync"} <= called


def _grants(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Whether a statement allows `action` on `resource` (IAM's `*` wildcards, ARN form)."""
    from fnmatch import fnmatchcase

    for statement in policy["Statement"]:
        actions = statement["Action"]
        resources = statement["Resource"]
        if action in ([actions] if isinstance(actions, str) else actions) and any(
            fnmatchcase(resource, pattern.replace("BUCKET", "models-bucket"))
            for pattern in ([resources] if isinstance(resources, str) else resources)
        ):
            return True
    return False


def test_multi_model_prefix_is_readable_by_sagemaker_and_managed_by_the_deployer() -> None:
    """AWS docs "Create a multi-model endpoint": the execution role needs s3:GetObject on the
    models under the prefix (SageMaker downloads `prefix + TargetModel` on first use); `models
    add | list | remove` put, list and delete there."""
    model = "arn:aws:s3:::models-bucket/headline-serve/models/news.tar.gz"
    assert _grants(_policy("execution-role-policy.json"), "s3:GetObject", model)
    deployer = _policy("deployer-policy.json")
    for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"):
        assert _grants(deployer, action, model), action
    [listing] = [s for s in deployer["Statement"] if s["Sid"] == "ModelDataListing"]
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["headline-serve/*"]


def test_deployer_pushes_the_serving_and_the_training_image() -> None:
    """The pipeline's training image lives in its own repository (headline-serve-train); the
    deployer may push there and to the serving image's, nowhere else."""
    deployer = _policy("deployer-policy.json")
    for repository in ("headline-serve", "headline-serve-train"):
        arn = f"arn:aws:ecr:REGION:ACCOUNT_ID:repository/{repository}"
        assert _grants(deployer, "ecr:PutImage", arn), repository
    assert not _grants(deployer, "ecr:PutImage", "arn:aws:ecr:REGION:ACCOUNT_ID:repository/other")
