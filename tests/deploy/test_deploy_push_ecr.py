"""`push` without Docker: the ECR side against moto, and a clear error when Docker is absent.

The image push itself is tested with a real registry in tests/docker/test_deploy_push.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deploy_helpers import REGION, Cloud, run_cli

from deploy import ecr
from deploy.aws import Aws


def test_repository_is_created_once_with_scanning_and_a_lifecycle_policy(cloud: Cloud) -> None:
    aws = Aws(REGION)
    uri = ecr.ensure_repository(aws, "headline-serve-new", immutable=True, keep=4)
    assert uri.endswith(".amazonaws.com/headline-serve-new")
    client = cloud.client("ecr")
    [repository] = client.describe_repositories(repositoryNames=["headline-serve-new"])[
        "repositories"
    ]
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    assert repository["imageTagMutability"] == "IMMUTABLE"
    # An existing repository is reused, and its lifecycle policy brought up to date.
    assert ecr.ensure_repository(aws, "headline-serve-new", immutable=True, keep=7) == uri
    policy = client.get_lifecycle_policy(repositoryName="headline-serve-new")
    assert json.loads(policy["lifecyclePolicyText"])["rules"][0]["selection"]["countNumber"] == 7


def test_content_tag_is_derived_from_the_image_id() -> None:
    assert ecr.content_tag("sha256:0123456789abcdef0123") == "sha-0123456789ab"


def test_push_without_docker_says_so(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker binary here
    result = run_cli("push", "headline-serve:latest")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the docker CLI is not on PATH")


def test_push_refuses_a_bad_tag_before_any_call(cloud: Cloud) -> None:
    result = run_cli("push", "headline-serve:latest", "--tag", "bad tag!")
    assert result.exit_code == 2
    assert "is not a valid image tag" in result.stderr
