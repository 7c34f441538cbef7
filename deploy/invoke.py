"""Call a live endpoint through sagemaker-runtime and time the round trip."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from deploy.aws import Aws
from deploy.errors import DeployError


@dataclass(frozen=True)
class Answer:
    body: str
    content_type: str
    latency_ms: float
    variant: str


def body_for(texts: list[str], content_type: str) -> bytes:
    """The request body our server accepts for these texts in this content type."""
    if content_type == "application/json":
        return json.dumps({"inputs": texts}).encode()
    if content_type == "text/csv":
        # One text per line; quote each so commas inside a headline stay inside it.
        return "".join('"' + text.replace('"', '""') + '"\n' for text in texts).encode()
    if content_type == "application/jsonlines":
        return "".join(json.dumps({"inputs": text}) + "\n" for text in texts).encode()
    raise DeployError(
        f"--content-type {content_type!r}: use application/json, text/csv or application/jsonlines"
    )


def invoke(
    aws: Aws,
    endpoint: str,
    body: bytes,
    content_type: str,
    accept: str,
    target_variant: str | None = None,
    component: str | None = None,
    target_model: str | None = None,
) -> Answer:
    """One call; `target_variant` (TargetVariant) skips the weights and calls that variant;
    `component` names the inference component an endpoint of components must be told;
    `target_model` the model of a multi-model endpoint (its key under the models prefix)."""
    request = {
        "EndpointName": endpoint,
        "Body": body,
        "ContentType": content_type,
        "Accept": accept,
    }
    if target_variant:
        request["TargetVariant"] = target_variant
    if component:
        request["InferenceComponentName"] = component
    if target_model:
        request["TargetModel"] = target_model
    start = time.perf_counter()
    try:
        response = aws.runtime.invoke_endpoint(**request)
        payload = response["Body"].read().decode("utf-8", errors="replace")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ModelError":
            original = exc.response.get("OriginalStatusCode", "?")
            raise DeployError(
                f"the model answered {original}: {exc.response.get('OriginalMessage') or error.get('Message')} "
                f"(logs: {exc.response.get('LogStreamArn', f'/aws/sagemaker/Endpoints/{endpoint}')})"
            ) from exc
        raise
    return Answer(
        body=payload,
        content_type=str(response.get("ContentType", "")),
        latency_ms=(time.perf_counter() - start) * 1000,
        variant=str(response.get("InvokedProductionVariant", "")),
    )
