"""The AWS clients the public API needs, on the command's shared session and retry policy."""

from __future__ import annotations

from functools import cached_property

from deploy.aws import Aws, Client


class PublicClients:
    def __init__(self, aws: Aws) -> None:
        self.aws = aws
        self.region = aws.region

    @cached_property
    def rest(self) -> Client:
        return self.aws.client("apigateway")

    @cached_property
    def http(self) -> Client:
        return self.aws.client("apigatewayv2")

    @cached_property
    def functions(self) -> Client:
        return self.aws.client("lambda")

    @cached_property
    def logs(self) -> Client:
        return self.aws.client("logs")

    @cached_property
    def iam(self) -> Client:
        return self.aws.iam

    @cached_property
    def account(self) -> str:
        return str(self.aws.client("sts").get_caller_identity()["Account"])
