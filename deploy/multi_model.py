"""A multi-model endpoint's models: tarballs under one S3 prefix that SageMaker loads on demand.

SageMaker reads the prefix from the container's `ModelDataUrl` (with `Mode=MultiModel`), and
an invocation's `TargetModel` is the object's key relative to that prefix (AWS docs: "Create a
multi-model endpoint", "Invoke a multi-model endpoint"). A model is therefore added by putting
`<prefix><name>.tar.gz` and removed by deleting it; no SageMaker call is made. SageMaker keeps
serving a removed model from its cache until it unloads it, so `remove` says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from deploy import config
from deploy.artifacts import build_tarball, open_artifact
from deploy.aws import Aws
from deploy.endpoint import describe_endpoint
from deploy.errors import ConfigError, DeployError
from deploy.storage import ABSENT, Uploader

SUFFIX = ".tar.gz"
# The model's name becomes the key under the prefix and the TargetModel (at most 1024
# printable characters, SageMaker Runtime: InvokeEndpoint); ours stay plain so that they are
# also the container's `model_name`.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class StoredModel:
    name: str
    target: str  # the TargetModel that invokes it
    size: int
    modified: str


def prefix_uri(value: str, flag: str = "--models-prefix") -> str:
    """An s3:// prefix that ends in `/` (SageMaker joins the TargetModel to it)."""
    config.s3_uri(value, flag)
    _, key = config.split_s3_uri(value)
    if not value.endswith("/") or not key.strip("/"):
        raise ConfigError(f"{flag} {value!r} must be a folder, s3://bucket/prefix/ ending in /")
    return value


def model_name(value: str) -> str:
    name = value.removesuffix(SUFFIX)
    if not MODEL_NAME.match(name):
        raise ConfigError(
            f"model name {value!r}: letters, digits, '.', '_' and '-', at most 128, "
            "starting with a letter or digit"
        )
    return name


def target_model(value: str) -> str:
    """The TargetModel for a model's name (or its key under the prefix, given as is)."""
    return model_name(value) + SUFFIX


def default_prefix(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{prefix.strip('/')}/models/"


def endpoint_prefix(aws: Aws, endpoint: str) -> str | None:
    """The models prefix of a multi-model endpoint; None for any other endpoint."""
    described = describe_endpoint(aws, endpoint)
    if described is None:
        raise DeployError(f"endpoint {endpoint} does not exist")
    endpoint_config = aws.sagemaker.describe_endpoint_config(
        EndpointConfigName=described["EndpointConfigName"]
    )
    for variant in endpoint_config["ProductionVariants"]:
        if "ModelName" not in variant:
            continue
        container = aws.sagemaker.describe_model(ModelName=variant["ModelName"]).get(
            "PrimaryContainer", {}
        )
        if container.get("Mode") == "MultiModel":
            return str(container["ModelDataUrl"])
    return None


def resolve_prefix(
    aws: Aws, models_prefix: str | None, endpoint: str | None, default: str | None
) -> str:
    """--models-prefix as given, else the --endpoint's (read from its multi-model container),
    else `deploy --multi-model`'s default under the bucket."""
    if models_prefix:
        return prefix_uri(models_prefix)
    if endpoint is None:
        if default is None:
            raise ConfigError("give --models-prefix s3://bucket/prefix/, --endpoint or --bucket")
        return default
    found = endpoint_prefix(aws, endpoint)
    if found is None:
        raise DeployError(
            f"endpoint {endpoint} is not a multi-model endpoint (no Mode=MultiModel container); "
            "deploy it with --multi-model --models-prefix"
        )
    return found


def add(
    aws: Aws, prefix: str, name: str, artifact: Path, kms_key_id: str | None = None
) -> tuple[str, bool]:
    """Validate and upload the artifact (a directory is packed first) as `<prefix><name>.tar.gz`.

    Returns the object's URI and whether bytes were sent (the same bytes are not sent twice;
    different bytes under the same name are refused, as model versions are elsewhere)."""
    target = target_model(name)
    opened, tarball = open_artifact(artifact)
    if tarball is None:
        tarball = build_tarball(opened)
    bucket, key = config.split_s3_uri(prefix)
    sent = Uploader(aws, bucket, kms_key_id).put_file(tarball, f"{key}{target}")
    return f"{prefix}{target}", sent


def listed(aws: Aws, prefix: str) -> list[StoredModel]:
    """The models under the prefix: each `*.tar.gz` directly in it, by name."""
    bucket, key = config.split_s3_uri(prefix)
    found: list[StoredModel] = []
    pages = aws.s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=key, Delimiter="/"
    )
    for page in pages:
        for item in page.get("Contents", []):
            relative = str(item["Key"])[len(key) :]
            if relative.endswith(SUFFIX):
                found.append(_stored(relative, item))
    return sorted(found, key=lambda model: model.name)


def _stored(relative: str, item: dict[str, Any]) -> StoredModel:
    return StoredModel(
        name=relative.removesuffix(SUFFIX),
        target=relative,
        size=int(item.get("Size", 0)),
        modified=str(item.get("LastModified", "")),
    )


def remove(aws: Aws, prefix: str, name: str) -> str:
    """Delete `<prefix><name>.tar.gz`; a DeployError if it is not there."""
    bucket, key = config.split_s3_uri(prefix)
    object_key = f"{key}{target_model(name)}"
    try:
        aws.s3.head_object(Bucket=bucket, Key=object_key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ABSENT:  # 403 too: see storage.ABSENT
            raise DeployError(f"no model {model_name(name)!r} under {prefix}") from exc
        raise
    aws.s3.delete_object(Bucket=bucket, Key=object_key)
    return f"s3://{bucket}/{object_key}"
