"""A moto server on loopback that the CLI reaches over real HTTP, and a small fake artifact.

Every test gets a clean moto state with the account set up as a user would have it: a bucket,
the SageMaker execution role, and the serving image in ECR.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_calls
import boto3
import conformance
import fake_hosting
import fake_sagemaker
import pytest
from deploy_helpers import (
    BUCKET,
    REGION,
    REPOSITORY,
    ROLE_ARN,
    ROLE_NAME,
    Cloud,
    make_artifact,
)
from moto.server import ThreadedMotoServer

from loadtests.local_server import local_server
from training.tiny_onnx_artifact import build_onnx_artifact

TRUST_POLICY = Path(__file__).resolve().parents[2] / "deploy" / "iam" / "execution-role-trust.json"
COVERAGE_CHECK = "test_every_granted_action_is_called_by_some_test"


@pytest.fixture(scope="session", autouse=True)
def aws_actions() -> Iterator[aws_calls.Recorder]:
    """Every AWS action the CLI calls in this session (see aws_calls); the IAM test reads it."""
    with aws_calls.recording() as recorder:
        yield recorder


@pytest.fixture(scope="session", autouse=True)
def aws_rules() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """AWS's rules held on every call the CLI makes (see conformance); the calls as sent."""
    with conformance.enforced() as sent:
        yield sent


@pytest.fixture(autouse=True)
def aws_rules_apply(aws_rules: list[tuple[str, dict[str, Any]]]) -> Iterator[None]:
    """The rules hold in this folder's tests only: the patch outlives them in the session."""
    with conformance.applying():
        yield


@pytest.fixture
def sent_calls(aws_rules: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The calls this test made, as sent."""
    aws_rules.clear()
    return aws_rules


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The IAM coverage check runs after every other test, when all calls are recorded."""
    last = [item for item in items if item.name == COVERAGE_CHECK]
    items[:] = [item for item in items if item.name != COVERAGE_CHECK] + last


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    saved = fake_sagemaker.install() + fake_hosting.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        fake_sagemaker.uninstall(saved)


@pytest.fixture
def cloud(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cloud]:
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=10
    ).close()
    fake_sagemaker.SCRIPTS.clear()
    fake_hosting.STATE.clear()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "DEPLOY_IMAGE"):
        monkeypatch.delenv(name, raising=False)
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": REGION,
        "DEPLOY_ROLE_ARN": ROLE_ARN,
        "DEPLOY_BUCKET": BUCKET,
        "COLUMNS": "200",
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    session = boto3.Session(region_name=REGION)
    cloud = Cloud(moto_url, session, fake_sagemaker.SCRIPTS)
    s3 = session.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    session.client("iam").create_role(
        RoleName=ROLE_NAME,
        AssumeRolePolicyDocument=TRUST_POLICY.read_text(encoding="utf-8"),
    )
    ecr = session.client("ecr")
    ecr.create_repository(repositoryName=REPOSITORY)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    }
    ecr.put_image(repositoryName=REPOSITORY, imageManifest=json.dumps(manifest), imageTag="v1")
    yield cloud
    fake_sagemaker.SCRIPTS.clear()


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    directory: Path = make_artifact(tmp_path / "artifact")
    return directory


@pytest.fixture(scope="session")
def serving_container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server on loopback for the stand-in to forward to (asynchronous inference), on a
    torch-free tiny artifact built in about a second."""
    model = build_onnx_artifact(tmp_path_factory.mktemp("serving-container") / "model")
    log = tmp_path_factory.mktemp("serving-container-log") / "server.log"
    with local_server(model, ready_timeout=120, log_path=log) as url:
        yield url
