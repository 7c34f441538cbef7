"""Every AWS action the deploy CLI calls during a test session, named as IAM names it.

`recording()` wraps `deploy.aws.Aws.client`, through which every command makes its clients,
with botocore event hooks: `before-call` records what was attempted, `after-call` what reached
the service and got an answer (an error answer included: a 404 from DescribeEndpoint is a use
of DescribeEndpoint). Clients the tests make themselves (moto set-up) are not recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from deploy.aws import Aws

# S3 operations are authorised by differently named actions.
S3_ACTIONS = {
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "ListObjectsV2": "ListBucket",
    "DeleteObjects": "DeleteObject",
}
# IAM's service prefix where it differs from the API's signing name.
SIGNING_TO_IAM = {"monitoring": "cloudwatch"}


def iam_action(model: Any) -> str:
    """`service:Action` as a policy grants it, for botocore's operation model."""
    prefix = SIGNING_TO_IAM.get(model.service_model.signing_name, model.service_model.signing_name)
    name = S3_ACTIONS.get(model.name, model.name) if prefix == "s3" else model.name
    if prefix == "apigateway":  # REST and HTTP APIs: the IAM actions are HTTP verbs
        name = model.http["method"]
    return f"{prefix}:{name}"


@dataclass
class Recorder:
    attempted: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)


@contextmanager
def recording() -> Iterator[Recorder]:
    recorder = Recorder()
    original = Aws.client

    def client(self: Aws, service: str) -> Any:
        made = original(self, service)
        made.meta.events.register(
            "before-call", lambda model, **_: recorder.attempted.add(iam_action(model))
        )
        made.meta.events.register(
            "after-call", lambda model, **_: recorder.answered.add(iam_action(model))
        )
        return made

    Aws.client = client  # type: ignore[method-assign]
    try:
        yield recorder
    finally:
        Aws.client = original  # type: ignore[method-assign]
