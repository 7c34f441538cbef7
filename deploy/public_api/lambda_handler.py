"""AWS Lambda handler behind API Gateway: public JSON in, SageMaker InvokeEndpoint, JSON out.

Deployed as this single file (`deploy expose` zips it); it needs nothing beyond the standard
library and the boto3 that the Lambda Python runtime ships. Both API Gateway payload formats
are understood: REST API proxy events (1.0) and HTTP API events (2.0).

Routes:
    POST /classify  {"text": "..."} or {"texts": ["...", ...]}, optional "top_k": k
                    -> 200 {"predictions": [...], "request_id": "..."}
    GET  /health    -> 200 {"status": "ok", ...}; answered here, without calling the model
                       (a health probe should cost no invocation).

Errors are `{"error": "...", "type": "...", "request_id": "..."}`, the server's own shape. The
model's 4xx reaches the caller with its status and message (SageMaker wraps it in a 424
ModelError carrying `OriginalStatusCode`); the model's 503 and 504 pass through as well, any
other model 5xx becomes 502. The model gets `INVOKE_TIMEOUT_S` seconds, set below the API's
integration timeout, so the caller gets our 504 instead of API Gateway's bare one.

Environment (set by `deploy expose`):
    ENDPOINT_NAME      the SageMaker endpoint to invoke (required)
    INVOKE_TIMEOUT_S   seconds the model may take (default 25; REST and HTTP APIs cut at 29-30 s)
    MAX_BODY_BYTES     largest accepted request body (default 262144)
    MAX_TEXTS          most texts in one request (default 64)
    ALLOWED_ORIGINS    comma-separated CORS origins, or * (default: none, no CORS headers)
    SAGEMAKER_RUNTIME_URL  tests and local use only: the SageMaker runtime URL to call instead
                       of AWS's (e.g. the stand-in in loadtests/sagemaker_emulator.py)
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

JSON = "application/json"
# A caller's X-Request-Id is kept when it is a plain token; anything else gets a fresh id.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Model statuses that mean "try again later" or "took too long": the caller should see them.
_PASSED_5XX = {503, 504}
# SageMaker runtime errors (not the model's): the status our caller gets.
_RUNTIME_ERRORS = {
    "ThrottlingException": (429, "throttled"),
    "ServiceUnavailable": (503, "unavailable"),
    "ModelNotReadyException": (503, "unavailable"),
    "InternalDependencyException": (502, "upstream_error"),
    "InternalFailure": (502, "upstream_error"),
}


@dataclass(frozen=True)
class HandlerConfig:
    endpoint_name: str
    invoke_timeout_s: float = 25.0
    max_body_bytes: int = 256 * 1024
    max_texts: int = 64
    allowed_origins: tuple[str, ...] = ()
    runtime_url: str | None = None
    component_name: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> HandlerConfig:
        env = dict(os.environ if env is None else env)
        origins = tuple(o.strip() for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip())
        return cls(
            endpoint_name=env["ENDPOINT_NAME"],
            invoke_timeout_s=float(env.get("INVOKE_TIMEOUT_S", cls.invoke_timeout_s)),
            max_body_bytes=int(env.get("MAX_BODY_BYTES", cls.max_body_bytes)),
            max_texts=int(env.get("MAX_TEXTS", cls.max_texts)),
            allowed_origins=origins,
            runtime_url=env.get("SAGEMAKER_RUNTIME_URL") or None,
            component_name=env.get("INFERENCE_COMPONENT_NAME") or None,
        )


class PublicError(Exception):
    """An answer other than 200, with the status and the error shape our callers know."""

    def __init__(self, status: int, kind: str, message: str, retry_after: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.retry_after = status, kind, message, retry_after


def runtime_client(config: HandlerConfig) -> Any:
    """One sagemaker-runtime client per container; no retries, so the deadline holds."""
    client_config = Config(
        connect_timeout=min(2.0, config.invoke_timeout_s),
        read_timeout=config.invoke_timeout_s,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    # Its own session, not boto3's process-wide default one that keeps the first credentials
    # it found: a container keeps one Classifier anyway, tests build several.
    session = boto3.session.Session()
    return session.client(
        "sagemaker-runtime", endpoint_url=config.runtime_url, config=client_config
    )


def _route(event: dict[str, Any]) -> tuple[str, str]:
    """(method, path) for both payload formats."""
    if "routeKey" in event and event.get("version") == "2.0":
        http = event.get("requestContext", {}).get("http", {})
        return str(http.get("method", "")), str(event.get("rawPath", ""))
    return str(event.get("httpMethod", "")), str(event.get("resource") or event.get("path", ""))


def _headers(event: dict[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def _request_id(event: dict[str, Any], headers: dict[str, str]) -> str:
    given = headers.get("x-request-id", "")
    if _REQUEST_ID.match(given):
        return given
    return str(event.get("requestContext", {}).get("requestId") or uuid.uuid4())


def _raw_body(event: dict[str, Any], limit: int) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise PublicError(400, "bad_request", "body is not valid base64") from None
    else:
        raw = body.encode("utf-8")
    if len(raw) > limit:
        raise PublicError(
            413, "payload_too_large", f"body of {len(raw)} bytes is over the {limit}-byte limit"
        )
    return raw


def model_request(raw: bytes, max_texts: int) -> bytes:
    """The public JSON into the server's contract: {"inputs": [...], "parameters": {...}}."""
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PublicError(400, "bad_request", "body is not JSON") from None
    if not isinstance(payload, dict):
        raise PublicError(400, "bad_request", 'body must be a JSON object: {"text": "..."}')
    if ("text" in payload) == ("texts" in payload):
        raise PublicError(400, "bad_request", 'give either "text" or "texts"')
    texts = [payload["text"]] if "text" in payload else payload["texts"]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise PublicError(
            400, "bad_request", '"text" must be a string, "texts" a non-empty list of strings'
        )
    if len(texts) > max_texts:
        raise PublicError(
            413, "too_many_texts", f"{len(texts)} texts; at most {max_texts} per request"
        )
    request: dict[str, Any] = {"inputs": texts}
    if "top_k" in payload:  # the server validates it; its 400 reaches the caller unchanged
        request["parameters"] = {"top_k": payload["top_k"]}
    return json.dumps(request).encode("utf-8")


def _model_error(error: ClientError) -> PublicError:
    """SageMaker's error as our caller should see it."""
    response: dict[str, Any] = error.response
    code = str(response.get("Error", {}).get("Code", ""))
    message = str(response.get("Error", {}).get("Message", ""))
    if code == "ModelError":
        status = int(response.get("OriginalStatusCode") or 502)
        original = str(response.get("OriginalMessage") or message)
        kind, text = "model_error", original
        try:  # our server's body: {"error": "...", "type": "..."}
            parsed = json.loads(original)
            if isinstance(parsed, dict) and "error" in parsed:
                kind, text = str(parsed.get("type") or kind), str(parsed["error"])
        except json.JSONDecodeError:
            pass
        if status < 500 or status in _PASSED_5XX:
            return PublicError(status, kind, text[:1000], "1" if status == 503 else None)
        return PublicError(
            502, "model_error", f"the model failed with status {status}: {text[:500]}"
        )
    if code in _RUNTIME_ERRORS:
        status, kind = _RUNTIME_ERRORS[code]
        return PublicError(status, kind, message or code, "1" if status in {429, 503} else None)
    http_status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if http_status == 413:  # SageMaker's own 6 MiB limit
        return PublicError(
            413, "payload_too_large", message or "request too large for the endpoint"
        )
    # Anything else (endpoint missing, access denied) is our configuration, not the caller's.
    return PublicError(502, "upstream_error", f"SageMaker refused the call ({code or http_status})")


class Classifier:
    """The handler with its configuration and client; one per Lambda container."""

    def __init__(self, config: HandlerConfig, client: Any | None = None) -> None:
        self.config = config
        self.runtime = client if client is not None else runtime_client(config)

    def __call__(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        started = time.perf_counter()
        headers = _headers(event)
        request_id = _request_id(event, headers)
        method, path = _route(event)
        try:
            if path.endswith("/health") and method == "GET":
                status, body = 200, {"status": "ok", "endpoint": self.config.endpoint_name}
            elif path.endswith("/classify") and method == "POST":
                status, body = 200, {"predictions": self._classify(event)}
            else:
                raise PublicError(404, "not_found", f"no route {method} {path}")
            retry_after = None
        except PublicError as error:
            status, retry_after = error.status, error.retry_after
            body = {"error": error.message, "type": error.kind}
        body["request_id"] = request_id
        self._log(request_id, method, path, status, started)
        return self._response(status, body, request_id, headers.get("origin"), retry_after)

    def _classify(self, event: dict[str, Any]) -> Any:
        raw = _raw_body(event, self.config.max_body_bytes)
        request = model_request(raw, self.config.max_texts)
        # An inference-component endpoint refuses a call that does not name the component.
        target = {"InferenceComponentName": self.config.component_name}
        try:
            answer = self.runtime.invoke_endpoint(
                EndpointName=self.config.endpoint_name,
                ContentType=JSON,
                Accept=JSON,
                Body=request,
                **(target if self.config.component_name else {}),
            )
            payload = answer["Body"].read()
        except ClientError as error:
            raise _model_error(error) from None
        except (ReadTimeoutError, ConnectTimeoutError):
            raise PublicError(
                504,
                "timeout",
                f"the model did not answer within {self.config.invoke_timeout_s:g} s",
            ) from None
        except (EndpointConnectionError, BotoCoreError) as error:
            raise PublicError(
                502, "upstream_error", f"cannot reach SageMaker: {type(error).__name__}"
            ) from None
        try:
            return json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise PublicError(502, "upstream_error", "the model's answer is not JSON") from None

    def _response(
        self,
        status: int,
        body: dict[str, Any],
        request_id: str,
        origin: str | None,
        retry_after: str | None,
    ) -> dict[str, Any]:
        headers = {"Content-Type": JSON, "X-Request-Id": request_id}
        if retry_after:
            headers["Retry-After"] = retry_after
        allowed = self.config.allowed_origins
        if "*" in allowed:
            headers["Access-Control-Allow-Origin"] = "*"
        elif origin and origin in allowed:  # one origin per answer: echo the caller's if listed
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
        return {
            "statusCode": status,
            "headers": headers,
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }

    def _log(self, request_id: str, method: str, path: str, status: int, started: float) -> None:
        # One JSON line per request into the function's own log group.
        line = {
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        sys.stdout.write(json.dumps(line) + "\n")


_classifier: Classifier | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (`lambda_handler.handler`); configuration read once per container."""
    global _classifier
    if _classifier is None:
        _classifier = Classifier(HandlerConfig.from_env())
    return _classifier(event, context)
