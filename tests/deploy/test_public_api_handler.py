"""The public API's Lambda handler, called as API Gateway calls it, through the SageMaker
runtime stand-in (SigV4 checked) to our real server on the tiny artifact."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.public_api.lambda_handler import Classifier, HandlerConfig, handler
from loadtests.local_server import free_port, local_server
from loadtests.sagemaker_emulator import EmulatorConfig, running_emulator
from service.backend.artifact import load_manifest

ENDPOINT = "headline-topics"
ACCESS_KEY, SECRET_KEY = "AKIDHANDLERTEST", "handler-test-secret"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What the Lambda runtime gives the function: the role's keys and the region."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


def _emulated(upstream: str) -> Iterator[str]:
    with running_emulator(EmulatorConfig(upstream, ENDPOINT, ACCESS_KEY, SECRET_KEY)) as url:
        yield url


@pytest.fixture(scope="module")
def labels(tiny_artifact: Path) -> set[str]:
    return set(load_manifest(tiny_artifact, verify_checksums=False).labels)


@pytest.fixture(scope="module")
def server(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    with local_server(tiny_artifact, env={"SERVE_WORKERS": "1"}, log_path=log) as url:
        yield url


def _slow(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A lone request waits 3 s for company, and the server's own deadline is 1 s.

    The wait runs from the oldest queued text, even one whose request has already ended: a
    request that arrives while an earlier one's wait is running is answered when that wait
    ends, sooner than 3 s. Each test that needs the full wait gets an instance of its own."""
    slow = {
        "SERVE_WORKERS": "1",
        "SERVE_MAX_WAIT_MS": "3000",
        "SERVE_MAX_BATCH_SIZE": "64",
        "SERVE_MAX_BATCH_TOKENS": "100000",
        "SERVE_REQUEST_TIMEOUT_S": "1",
    }
    log = tmp_path_factory.mktemp("slow") / "server.log"
    with local_server(tiny_artifact, env=slow, log_path=log) as url:
        yield url


@pytest.fixture(scope="module")
def slow_server(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _slow(tiny_artifact, tmp_path_factory)


@pytest.fixture(scope="module")
def idle_slow_server(
    tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The same slow server, no request before this test's: nothing shortens the 3 s wait."""
    yield from _slow(tiny_artifact, tmp_path_factory)


@pytest.fixture
def runtime_url(server: str) -> Iterator[str]:
    yield from _emulated(server)


def rest_event(
    method: str, resource: str, body: str | None = None, **headers: str
) -> dict[str, Any]:
    """A REST API Lambda proxy event (payload format 1.0), as API Gateway sends it."""
    return {
        "resource": resource,
        "path": resource,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", **headers},
        "requestContext": {"requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "stage": "prod"},
        "body": body,
        "isBase64Encoded": False,
    }


def http_event(method: str, path: str, body: bytes, **headers: str) -> dict[str, Any]:
    """An HTTP API event (payload format 2.0); binary-safe bodies arrive base64-encoded."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "headers": {"content-type": "application/json", **headers},
        "requestContext": {
            "requestId": "JKJaXmPLvHcESHA=",
            "http": {"method": method, "path": path},
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def classifier(runtime_url: str, **settings: Any) -> Classifier:
    return Classifier(HandlerConfig(ENDPOINT, runtime_url=runtime_url, **settings))


def answer(response: dict[str, Any]) -> dict[str, Any]:
    assert response["headers"]["Content-Type"] == "application/json"
    body = json.loads(response["body"])
    assert body["request_id"] == response["headers"]["X-Request-Id"]
    return body  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_headline_is_classified_through_the_signed_runtime(
    runtime_url: str, labels: set[str]
) -> None:
    response = classifier(runtime_url)(
        rest_event("POST", "/classify", json.dumps({"text": "Stocks rally as rates hold"}))
    )
    assert response["statusCode"] == 200, response
    [prediction] = answer(response)["predictions"]
    assert prediction["label"] in labels and 0.0 <= prediction["score"] <= 1.0


@pytest.mark.slow
def test_http_api_events_with_several_texts_and_top_k(runtime_url: str, labels: set[str]) -> None:
    body = json.dumps({"texts": ["Cup final tonight", "New chip unveiled"], "top_k": 2}).encode()
    response = classifier(runtime_url)(
        http_event("POST", "/classify", body, **{"x-request-id": "abc-1"})
    )
    assert response["statusCode"] == 200
    result = answer(response)
    assert result["request_id"] == "abc-1"
    assert len(result["predictions"]) == 2
    assert all(
        len(top) == 2 and {p["label"] for p in top} <= labels for top in result["predictions"]
    )


@pytest.mark.slow
def test_the_models_4xx_reaches_the_caller_with_its_status_and_message(runtime_url: str) -> None:
    empty = classifier(runtime_url)(rest_event("POST", "/classify", json.dumps({"text": "   "})))
    bad_k = classifier(runtime_url)(
        rest_event("POST", "/classify", json.dumps({"text": "hi", "top_k": 0}))
    )
    assert empty["statusCode"] == 422
    assert answer(empty)["type"] == "empty_text" and "empty" in answer(empty)["error"]
    assert bad_k["statusCode"] == 400
    assert "top_k must be a positive integer" in answer(bad_k)["error"]


@pytest.mark.slow
def test_the_models_5xx_and_an_unreachable_container(slow_server: str) -> None:
    for runtime_url in _emulated(slow_server):  # the server's own 1 s deadline expires first
        response = classifier(runtime_url, invoke_timeout_s=10)(
            rest_event("POST", "/classify", json.dumps({"text": "Storm hits the coast"}))
        )
        assert response["statusCode"] == 504, response
        assert answer(response)["type"] == "deadline_exceeded"
        assert "1 s request deadline" in answer(response)["error"]
    closed = f"http://127.0.0.1:{free_port()}"
    for runtime_url in _emulated(closed):  # SageMaker's ModelError without a container status
        response = classifier(runtime_url)(
            rest_event("POST", "/classify", json.dumps({"text": "x"}))
        )
        assert response["statusCode"] == 502
        assert answer(response)["type"] == "model_error"


@pytest.mark.slow
def test_a_slow_model_gets_our_504_within_the_invoke_timeout(idle_slow_server: str) -> None:
    import time

    for runtime_url in _emulated(idle_slow_server):
        classify = classifier(runtime_url, invoke_timeout_s=0.3)  # client built off the clock
        started = time.perf_counter()
        response = classify(
            rest_event("POST", "/classify", json.dumps({"text": "Markets wait for the data"}))
        )
        elapsed = time.perf_counter() - started
        assert response["statusCode"] == 504
        assert answer(response)["type"] == "timeout" and "0.3 s" in answer(response)["error"]
        assert elapsed < 0.9


@pytest.mark.slow
def test_bodies_over_the_limits_are_413(runtime_url: str) -> None:
    big = json.dumps({"text": "x" * 300_000})
    ours = classifier(runtime_url)(rest_event("POST", "/classify", big))
    assert ours["statusCode"] == 413 and "262144-byte limit" in answer(ours)["error"]
    # Past our limit, SageMaker's own 6 MiB refusal is passed on as 413 too.
    huge = json.dumps({"text": "x" * (6 * 1024 * 1024)})
    generous = classifier(runtime_url, max_body_bytes=8 * 1024 * 1024)
    theirs = generous(rest_event("POST", "/classify", huge))
    assert theirs["statusCode"] == 413 and answer(theirs)["type"] == "payload_too_large"
    many = classifier(runtime_url, max_texts=3)(
        rest_event("POST", "/classify", json.dumps({"texts": ["a", "b", "c", "d"]}))
    )
    assert many["statusCode"] == 413 and answer(many)["type"] == "too_many_texts"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "JSON object"),
        ('{"text": "a", "texts": ["b"]}', "either"),
        ('{"texts": []}', "non-empty list"),
        ('{"text": 3}', "must be a string"),
    ],
)
def test_malformed_public_requests_never_reach_the_model(body: str, message: str) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    response = classifier(unreachable)(rest_event("POST", "/classify", body))
    assert response["statusCode"] == 400
    assert message in answer(response)["error"]


def test_health_and_unknown_routes_and_cors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com, https://partner.example.org")
    monkeypatch.setenv("SAGEMAKER_RUNTIME_URL", f"http://127.0.0.1:{free_port()}")
    health = handler(rest_event("GET", "/health", Origin="https://partner.example.org"), None)
    assert health["statusCode"] == 200 and answer(health)["endpoint"] == ENDPOINT
    assert health["headers"]["Access-Control-Allow-Origin"] == "https://partner.example.org"
    stranger = handler(rest_event("GET", "/health", Origin="https://evil.example.net"), None)
    assert "Access-Control-Allow-Origin" not in stranger["headers"]
    missing = handler(rest_event("GET", "/classify"), None)
    assert missing["statusCode"] == 404


def test_configuration_from_the_environment() -> None:
    config = HandlerConfig.from_env(
        {"ENDPOINT_NAME": "ep", "INVOKE_TIMEOUT_S": "12.5", "MAX_BODY_BYTES": "1000",
         "MAX_TEXTS": "5", "ALLOWED_ORIGINS": "*", "SAGEMAKER_RUNTIME_URL": "http://127.0.0.1:9"}
    )  # fmt: skip
    assert config == HandlerConfig("ep", 12.5, 1000, 5, ("*",), "http://127.0.0.1:9")
