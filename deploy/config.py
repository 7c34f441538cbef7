"""Validation of everything the user configures, done before the first AWS call.

Each check returns the cleaned value or raises `ConfigError` naming the flag and the rule, so
a typo costs a second instead of a half-created endpoint. Flags can also come from environment
variables (`DEPLOY_*`, `AWS_REGION`); see `deploy.cli`.
"""

from __future__ import annotations

import re
from functools import cache

import boto3

from deploy.errors import ConfigError

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
# SageMaker resource names (models, endpoint configs, endpoints, jobs, package groups).
RESOURCE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9-]+$")
IMAGE_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?$")
ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com[^/]*/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[\w.-]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@cache
def known_regions() -> frozenset[str]:
    """SageMaker regions in the installed botocore's endpoint data, all partitions."""
    session = boto3.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("sagemaker", partition_name=partition))
    return frozenset(regions)


def region(value: str | None) -> str:
    if not value:
        raise ConfigError("--region is required (or set AWS_REGION)")
    if value not in known_regions():
        raise ConfigError(
            f"--region {value!r} is not a SageMaker region (e.g. us-east-1, eu-west-1); "
            "upgrade boto3 if it is new"
        )
    return value


def role_arn(value: str | None) -> str:
    if not value:
        raise ConfigError(
            "--role-arn is required (or set DEPLOY_ROLE_ARN): the SageMaker execution role, "
            "see deploy/iam/execution-role-policy.json"
        )
    if not ROLE_ARN.match(value):
        raise ConfigError(
            f"--role-arn {value!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"
        )
    return value


def bucket(value: str | None) -> str:
    if not value:
        raise ConfigError("--bucket is required (or set DEPLOY_BUCKET)")
    if not BUCKET.match(value) or ".." in value:
        raise ConfigError(f"--bucket {value!r} is not a valid S3 bucket name")
    return value


def repository(value: str) -> str:
    if not (2 <= len(value) <= 256) or not REPOSITORY.match(value):
        raise ConfigError(
            f"--repository {value!r} is not a valid ECR repository name (lowercase, digits, . _ - /)"
        )
    return value


def instance_type(value: str) -> str:
    if not INSTANCE_TYPE.match(value):
        raise ConfigError(f"--instance-type {value!r} must look like ml.c5.xlarge")
    return value


def resource_name(value: str, flag: str) -> str:
    if not RESOURCE_NAME.match(value):
        raise ConfigError(
            f"{flag} {value!r} must be 1-63 letters, digits and hyphens, starting with a letter or digit"
        )
    return value


def image_tag(value: str) -> str:
    if not IMAGE_TAG.match(value):
        raise ConfigError(f"--tag {value!r} is not a valid image tag")
    return value


def s3_uri(value: str, flag: str) -> str:
    if not S3_URI.match(value):
        raise ConfigError(f"{flag} {value!r} must be an s3://bucket/prefix URI")
    return value


def split_s3_uri(uri: str) -> tuple[str, str]:
    """('bucket', 'key/prefix') from s3://bucket/key/prefix."""
    match = S3_URI.match(uri)
    if not match:
        raise ConfigError(f"{uri!r} is not an s3:// URI")
    return match.group(1), (match.group(2) or "/").lstrip("/")


def positive(value: int, flag: str, maximum: int | None = None) -> int:
    if value < 1 or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigError(f"{flag} must be at least 1{upper} (got {value})")
    return value


def env_pairs(pairs: list[str]) -> dict[str, str]:
    """--env KEY=VALUE flags into a dict, refusing malformed ones."""
    environment: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$", key):
            raise ConfigError(f"--env {pair!r} must be KEY=VALUE")
        environment[key] = value
    return environment


DURATION = re.compile(r"^(\d+)(s|m|h)?$")


def duration_s(value: str, flag: str, maximum: int) -> int:
    """'90', '90s', '10m' or '1h' as seconds, at most `maximum`."""
    match = DURATION.match(value.strip())
    if not match:
        raise ConfigError(f"{flag} {value!r} must be seconds or a duration like 90s, 10m, 1h")
    seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
    if seconds > maximum:
        raise ConfigError(f"{flag} {value} is over SageMaker's limit of {maximum} s")
    return seconds
