"""ECR: the repository (scan on push, lifecycle policy), a registry login, the Docker push.

The repository and the login go through the ECR API; the image itself moves with the Docker
CLI, which must be on PATH. `registry_host` replaces the registry ECR names (a pull-through
mirror, or a local registry in tests) while every API call still goes to ECR.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass

from botocore.exceptions import ClientError

from deploy.aws import Aws, tags
from deploy.config import ECR_IMAGE
from deploy.errors import DeployError


@dataclass(frozen=True)
class PushedImage:
    uri: str
    digest: str


def lifecycle_policy(keep: int) -> str:
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"keep the last {keep} images",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": keep,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
    )


def ensure_repository(aws: Aws, name: str, immutable: bool, keep: int) -> str:
    """Create the repository if missing, apply the lifecycle policy; return its URI."""
    try:
        repository = aws.ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
            raise
        repository = aws.ecr.create_repository(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": True},
            imageTagMutability="IMMUTABLE" if immutable else "MUTABLE",
            encryptionConfiguration={"encryptionType": "AES256"},
            tags=[{"Key": t["Key"], "Value": t["Value"]} for t in tags()],
        )["repository"]
    aws.ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=lifecycle_policy(keep))
    return str(repository["repositoryUri"])


def _require_docker() -> None:
    if shutil.which("docker") is None:
        raise DeployError("the docker CLI is not on PATH; install Docker to push images")


def _docker(*args: str, stdin: str | None = None) -> str:
    _require_docker()
    result = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise DeployError(f"docker {args[0]} failed: {lines[-1]}")
    return result.stdout


def login(aws: Aws, registry: str) -> None:
    data = aws.ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    _docker("login", "--username", user, "--password-stdin", registry, stdin=password)


def content_tag(image_id: str) -> str:
    """A tag derived from the image ID: the same build always gets the same tag."""
    return "sha-" + image_id.removeprefix("sha256:")[:12]


def _ecr_digest(aws: Aws, repository: str, tag: str) -> str | None:
    try:
        details = aws.ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ImageNotFoundException":
            return None
        raise
    return str(details["imageDetails"][0]["imageDigest"])


def push(
    aws: Aws,
    local_image: str,
    repository: str,
    tag: str | None = None,
    immutable: bool = False,
    keep: int = 10,
    registry_host: str | None = None,
) -> PushedImage:
    """Tag `local_image` into the ECR repository and push it; return URI and digest.

    Without `tag`, the tag is derived from the image ID, and an image already in ECR under
    that tag is not pushed again.
    """
    _require_docker()
    try:
        image_id = _docker("image", "inspect", "--format", "{{.Id}}", local_image).strip()
    except DeployError as exc:
        raise DeployError(f"local image {local_image} not found ({exc}); build it first") from exc
    tag = tag or content_tag(image_id)
    repository_uri = ensure_repository(aws, repository, immutable, keep)
    existing = None if registry_host else _ecr_digest(aws, repository, tag)
    if existing:
        return PushedImage(uri=f"{repository_uri}:{tag}", digest=existing)
    registry, _, path = repository_uri.partition("/")
    registry = registry_host or registry
    target = f"{registry}/{path}:{tag}"
    login(aws, registry)
    _docker("tag", local_image, target)
    _docker("push", target)
    digests = json.loads(_docker("image", "inspect", "--format", "{{json .RepoDigests}}", target))
    digest = next((d.split("@", 1)[1] for d in digests if d.startswith(f"{registry}/{path}@")), "")
    if not digest:
        raise DeployError(f"pushed {target} but the registry reported no digest")
    return PushedImage(uri=f"{repository_uri}:{tag}", digest=digest)


def image_exists(aws: Aws, image_uri: str) -> bool | None:
    """True/False for an image in this account's ECR; None when the URI is not ECR's."""
    match = ECR_IMAGE.match(image_uri)
    if not match or match["region"] != aws.region:
        return None
    image_id = (
        {"imageDigest": match["digest"]}
        if match["digest"]
        else {"imageTag": match["tag"] or "latest"}
    )
    try:
        aws.ecr.describe_images(repositoryName=match["repository"], imageIds=[image_id])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {
            "ImageNotFoundException",
            "RepositoryNotFoundException",
        }:
            return False
        raise
    return True
