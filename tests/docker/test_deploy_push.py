"""`python -m deploy push`: the ECR calls against moto, the image itself into a real registry.

Debian's `docker-registry` serves on a free loopback port; the CLI creates the repository in
(moto's) ECR, logs in with the token ECR hands out, and pushes with the Docker CLI to the
registry named by `--registry-host`. The pushed manifest digest must be the one printed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A real registry on 127.0.0.1 (Docker trusts loopback registries over plain HTTP)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("no docker-registry: apt-get install docker-registry", pytrace=False)
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n",
        encoding="utf-8",
    )
    log = (tmp_path / "registry.log").open("w")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "registry.log").read_text()
            try:
                _OPENER.open(f"http://127.0.0.1:{port}/v2/", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def tiny_image(docker_daemon: None) -> Iterator[str]:
    """A one-file image made with `docker import` (nothing can be pulled here)."""
    tag = f"deploy-push-test:{os.getpid()}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        payload = f"pushed by test {os.getpid()}\n".encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    subprocess.run(
        ["docker", "import", "-", tag], input=buffer.getvalue(), check=True, capture_output=True
    )
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], check=False, capture_output=True)


@pytest.fixture
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_push_creates_the_repository_and_pushes_the_image(
    registry: str, tiny_image: str, moto_url: str, tmp_path: Path
) -> None:
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),  # keep the login out of ~/.docker
        "NO_PROXY": "127.0.0.1,localhost",
    }
    completed = subprocess.run(
        [
            sys.executable, "-m", "deploy", "push", tiny_image, "--tag", "v1",
            "--region", REGION, "--registry-host", registry, "--immutable-tags", "--keep-images", "3",
        ],
        env=environment, cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = dict(line.split(": ", 1) for line in completed.stdout.splitlines() if ": " in line)
    assert lines["image"].endswith(f".dkr.ecr.{REGION}.amazonaws.com/headline-serve:v1")
    assert lines["digest"].startswith("sha256:")

    tags = json.load(_OPENER.open(f"http://{registry}/v2/headline-serve/tags/list", timeout=10))
    assert tags["tags"] == ["v1"]
    request = urllib.request.Request(
        f"http://{registry}/v2/headline-serve/manifests/v1",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with _OPENER.open(request, timeout=10) as response:
        assert response.headers["Docker-Content-Digest"] == lines["digest"]

    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=moto_url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    [repository] = ecr.describe_repositories(repositoryNames=["headline-serve"])["repositories"]
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    assert repository["imageTagMutability"] == "IMMUTABLE"
    policy = json.loads(
        ecr.get_lifecycle_policy(repositoryName="headline-serve")["lifecyclePolicyText"]
    )
    assert policy["rules"][0]["selection"]["countNumber"] == 3


def _fake_artifact(directory: Path) -> Path:
    from service.backend.artifact import Manifest, VariantInfo, write_manifest

    directory.mkdir()
    (directory / "model.onnx").write_bytes(b"placeholder")
    (directory / "tokenizer.json").write_text("{}", encoding="utf-8")
    manifest = Manifest(
        model_version="20260101-000000-push",
        labels=["world", "sports"],
        max_length=32,
        variants={"fp32": VariantInfo(file="model.onnx", precision="fp32")},
        metrics={"accuracy": 0.9},
    )
    write_manifest(directory, manifest)
    return directory


def test_one_command_pushes_the_local_image_and_deploys_it(
    registry: str, tiny_image: str, moto_url: str, tmp_path: Path
) -> None:
    aws = {
        "region_name": REGION,
        "endpoint_url": moto_url,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    boto3.client("s3", **aws).create_bucket(
        Bucket="models", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    trust = (REPO / "deploy" / "iam" / "execution-role-trust.json").read_text(encoding="utf-8")
    role = boto3.client("iam", **aws).create_role(RoleName="exec", AssumeRolePolicyDocument=trust)
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        "NO_PROXY": "127.0.0.1,localhost",
        "AWS_REGION": REGION,
        "DEPLOY_ROLE_ARN": role["Role"]["Arn"],
        "DEPLOY_BUCKET": "models",
        "DEPLOY_REGISTRY_HOST": registry,
    }
    artifact = _fake_artifact(tmp_path / "artifact")
    completed = subprocess.run(
        [sys.executable, "-m", "deploy", "deploy", "--artifact", str(artifact), "--local-image", tiny_image, "--poll-interval", "0.1"],
        env=environment, cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    tags = json.load(_OPENER.open(f"http://{registry}/v2/headline-serve/tags/list", timeout=10))
    [tag] = tags["tags"]
    assert tag.startswith("sha-")
    sagemaker = boto3.client("sagemaker", **aws)
    endpoint = sagemaker.describe_endpoint(EndpointName="headline-topics")
    assert endpoint["EndpointStatus"] == "InService"
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["Image"].endswith(f"/headline-serve:{tag}")
