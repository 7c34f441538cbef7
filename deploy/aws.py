"""boto3 clients for one region, created once per command.

Endpoints come from boto3's own configuration, so `AWS_ENDPOINT_URL` (or the per-service
`AWS_ENDPOINT_URL_SAGEMAKER`, ...) points every call at a stand-in such as moto.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

# boto3 ships no type information for clients without the stubs package; keep one alias.
Client = Any

TAG_KEY = "managed-by"
TAG_VALUE = "headline-serve-deploy"


class Aws:
    """The clients a command needs, sharing one session and one retry policy."""

    def __init__(self, region: str, profile: str | None = None) -> None:
        self.region = region
        self.session = boto3.Session(region_name=region, profile_name=profile)
        self._config = Config(
            retries={"mode": "standard", "max_attempts": 5},
            user_agent_extra="headline-serve-deploy",
        )

    def client(self, service: str) -> Client:
        return self.session.client(service, config=self._config)

    @cached_property
    def sagemaker(self) -> Client:
        return self.client("sagemaker")

    @cached_property
    def runtime(self) -> Client:
        return self.client("sagemaker-runtime")

    @cached_property
    def s3(self) -> Client:
        return self.client("s3")

    @cached_property
    def ecr(self) -> Client:
        return self.client("ecr")

    @cached_property
    def iam(self) -> Client:
        return self.client("iam")

    @cached_property
    def cloudwatch(self) -> Client:
        return self.client("cloudwatch")

    @cached_property
    def autoscaling(self) -> Client:
        return self.client("application-autoscaling")


def tags(**extra: str) -> list[dict[str, str]]:
    """The tags on everything we create, so `delete` only removes what `deploy` made."""
    return [{"Key": TAG_KEY, "Value": TAG_VALUE}] + [
        {"Key": key.replace("_", "-"), "Value": value} for key, value in extra.items()
    ]
