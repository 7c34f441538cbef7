"""CloudWatch's PromQL query API: `POST /api/v1/query` on the region's monitoring host, form
encoded, signed with SigV4 for the `monitoring` service, answered as Prometheus answers
(CloudWatch: "QueryMetrics", Prometheus-compatible APIs; IAM `cloudwatch:QueryMetrics`).

boto3 has no operation for it, so the request is signed with botocore's own signer and the
session's credentials; the host is the CloudWatch client's endpoint, so `AWS_ENDPOINT_URL`
points it at a stand-in as it does every other call.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from deploy.aws import Aws
from deploy.errors import DeployError

PATH = "/api/v1/query"
SIGNING_SERVICE = "monitoring"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


def parse(answer: dict[str, Any]) -> list[Sample]:
    """A Prometheus API answer of an instant query: its vector (or scalar) as samples."""
    if answer.get("status") != "success":
        raise DeployError(f"PromQL query failed: {answer.get('error', answer)}")
    data = answer["data"]
    if data["resultType"] == "scalar":
        return [Sample({}, float(data["result"][1]))]
    if data["resultType"] != "vector":
        raise DeployError(f"PromQL query answered a {data['resultType']}, not a vector")
    return [Sample(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]


def signed_request(aws: Aws, url: str, form: dict[str, str]) -> AWSRequest:
    body = urllib.parse.urlencode(form)
    request = AWSRequest(
        method="POST",
        url=url,
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    credentials = aws.session.get_credentials()
    if credentials is None:
        raise DeployError("no AWS credentials to sign the PromQL query with")
    SigV4Auth(credentials.get_frozen_credentials(), SIGNING_SERVICE, aws.region).add_auth(request)
    return request


def instant(aws: Aws, query: str, at: datetime, base_url: str | None = None) -> list[Sample]:
    """Evaluate `query` at `at`; `base_url` defaults to the CloudWatch client's endpoint."""
    url = (base_url or str(aws.cloudwatch.meta.endpoint_url)).rstrip("/") + PATH
    request = signed_request(aws, url, {"query": query, "time": f"{at.timestamp():.3f}"})
    prepared = urllib.request.Request(
        url, data=request.body, headers=dict(request.headers.items()), method="POST"
    )
    try:
        with _OPENER.open(prepared, timeout=30) as response:
            return parse(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode(errors="replace")
        raise DeployError(f"PromQL query answered HTTP {exc.code}: {detail}") from None
