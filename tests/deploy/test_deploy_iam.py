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


def _policy(name: str) -> dict[str, Any]:
    return json.loads((IAM / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _allowed(policy: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


@pytest.mark.parametrize("name", ["deployer-policy.json", "execution-role-policy.json"])
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
            prefix = model.service_model.signing_name
            name = S3_ACTIONS.get(model.name, model.name) if prefix == "s3" else model.name
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
        ["delete", "--endpoint", "headline", "--yes", "--images", "--artifacts"],
    ]  # fmt: skip
    for step in steps:
        result = run_cli(*step)
        assert result.exit_code == 0, (step, result.output)
    granted = _allowed(_policy("deployer-policy.json"))
    assert called - granted == set()
    assert {"sagemaker:UpdateEndpoint", "iam:GetRole", "s3:PutObject"} <= called
