"""Where requests go: a server's URL (httpx), or a SageMaker endpoint through boto3's
`sagemaker-runtime` InvokeEndpoint, which signs with SigV4 from the usual AWS credentials.

Both answer a `Reply` (status, lower-cased headers, body), so retries and parsing are written
once. SageMaker reaches only the container's `/invocations`; a container's 4xx/5xx comes back
from SageMaker as a 424 ModelError carrying the original status and body (`OriginalStatusCode`,
`OriginalMessage`: the InvokeEndpoint API reference), which the reply restores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    body: bytes
    content_type: str = "application/json"
    accept: str = "application/json"
    custom_attributes: str | None = None


@dataclass(frozen=True)
class SageMakerTarget:
    """A SageMaker endpoint and the InvokeEndpoint routing fields (each optional)."""

    endpoint_name: str
    region_name: str | None = None
    target_variant: str | None = None
    """A production variant by name (A/B tests, a shadow's primary)."""
    target_model: str | None = None
    """A multi-model endpoint's model (the model.tar.gz path under its S3 prefix)."""
    inference_component: str | None = None
    """An inference component on the endpoint."""
    endpoint_url: str | None = None
    """Another runtime URL (a stand-in in tests, a VPC endpoint)."""
    client_options: dict[str, Any] = field(default_factory=dict)
    """Passed to boto3's client() (credentials, config)."""


class HttpTransport:
    def __init__(self, base_url: str, timeout_s: float) -> None:
        import httpx

        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)

    def send(self, request: Request) -> Reply:
        reply = self._client.post(request.path, content=request.body, headers=_headers(request))
        return Reply(reply.status_code, dict(reply.headers), reply.content)

    def close(self) -> None:
        self._client.close()


class AsyncHttpTransport:
    def __init__(self, base_url: str, timeout_s: float) -> None:
        import httpx

        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s)

    async def send(self, request: Request) -> Reply:
        reply = await self._client.post(
            request.path, content=request.body, headers=_headers(request)
        )
        return Reply(reply.status_code, dict(reply.headers), reply.content)

    async def close(self) -> None:
        await self._client.aclose()


def _headers(request: Request) -> dict[str, str]:
    headers = {"content-type": request.content_type, "accept": request.accept}
    if request.custom_attributes:
        headers["x-amzn-sagemaker-custom-attributes"] = request.custom_attributes
    return headers


class SageMakerTransport:
    """InvokeEndpoint; blocking (the async client runs it on a worker thread)."""

    def __init__(self, target: SageMakerTarget, timeout_s: float) -> None:
        import boto3
        from botocore.config import Config

        options = dict(target.client_options)
        options.setdefault("config", Config(read_timeout=timeout_s, retries={"mode": "standard"}))
        self._target = target
        self._runtime = boto3.client(
            "sagemaker-runtime",
            region_name=target.region_name,
            endpoint_url=target.endpoint_url,
            **options,
        )

    @property
    def runtime(self) -> Any:
        """boto3's sagemaker-runtime client (its events take hooks, e.g. to log requests)."""
        return self._runtime

    def send(self, request: Request) -> Reply:
        from botocore.exceptions import ClientError

        if request.path != "/invocations":
            raise ValueError(f"a SageMaker endpoint serves /invocations only, not {request.path}")
        target = self._target
        params: dict[str, Any] = {
            "EndpointName": target.endpoint_name,
            "Body": request.body,
            "ContentType": request.content_type,
            "Accept": request.accept,
        }
        optional = {
            "CustomAttributes": request.custom_attributes,
            "TargetVariant": target.target_variant,
            "TargetModel": target.target_model,
            "InferenceComponentName": target.inference_component,
        }
        params.update({k: v for k, v in optional.items() if v})
        try:
            answer = self._runtime.invoke_endpoint(**params)
        except ClientError as error:
            return _error_reply(error.response)
        headers = {"content-type": str(answer.get("ContentType", ""))}
        if answer.get("InvokedProductionVariant"):
            headers["x-amzn-invoked-production-variant"] = answer["InvokedProductionVariant"]
        return Reply(200, headers, answer["Body"].read())

    def close(self) -> None:
        self._runtime.close()


def _error_reply(response: dict[str, Any]) -> Reply:
    """A ModelError as the container's own answer; other errors with SageMaker's status."""
    error = response.get("Error", {})
    if error.get("Code") == "ModelError" and response.get("OriginalStatusCode"):
        body = str(response.get("OriginalMessage", "")).encode()
        return Reply(int(response["OriginalStatusCode"]), {}, body)
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
    message = str(error.get("Message", ""))
    kind = str(error.get("Code", "sagemaker_error"))
    return Reply(status, {}, json.dumps({"error": message, "type": kind}).encode())
