"""The client's SageMaker mode through the repo's SigV4 stand-in (loadtests/sagemaker_emulator.py,
which recomputes each signature with the secret) in front of the real server.

The request fields are the InvokeEndpoint API's (Amazon SageMaker Runtime API Reference,
"InvokeEndpoint"; the pinned botocore service model sagemaker-runtime/2017-05-13 maps them to
the headers checked here): CustomAttributes -> X-Amzn-SageMaker-Custom-Attributes,
TargetVariant -> X-Amzn-SageMaker-Target-Variant, TargetModel ->
X-Amzn-SageMaker-Target-Model, InferenceComponentName -> X-Amzn-SageMaker-Inference-Component.
A container error reaches the caller as a ModelError carrying OriginalStatusCode and
OriginalMessage (same reference, "Errors"), which the client turns back into the server's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from headline_client import Client, Prediction, RetryPolicy, SageMakerTarget, ServerError
from headline_client.transport import SageMakerTransport

from loadtests.local_server import local_server
from loadtests.sagemaker_emulator import EmulatorConfig, running_emulator
from training.tiny_onnx_artifact import build_onnx_artifact

pytestmark = pytest.mark.slow

KEY, SECRET, ENDPOINT = "AKIDCLIENT", "client-secret", "headline-endpoint"
TEXTS = ["Stocks rally as the central bank holds rates", "New vaccine trial shows promise"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    artifact = build_onnx_artifact(tmp_path_factory.mktemp("onnx") / "model")
    env = {"SERVE_WORKERS": "1", "SERVE_DEVICE": "cpu", "SERVE_PRECISION": "fp32"}
    with local_server(artifact, env=env, ready_timeout=120) as url:
        yield url


@pytest.fixture(scope="module")
def runtime_url(server: str) -> Iterator[str]:
    config = EmulatorConfig(server, ENDPOINT, access_key=KEY, secret_key=SECRET)
    with running_emulator(config) as url:
        yield url


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def target(runtime_url: str, secret: str = SECRET, **routing: str) -> SageMakerTarget:
    return SageMakerTarget(
        ENDPOINT,
        region_name="us-east-1",
        endpoint_url=runtime_url,
        client_options={"aws_access_key_id": KEY, "aws_secret_access_key": secret},
        **routing,
    )


def test_classify_through_a_signed_endpoint_equals_the_server(
    server: str, runtime_url: str
) -> None:
    direct = httpx.post(
        f"{server}/invocations",
        json={"inputs": TEXTS, "parameters": {"return_all_scores": True}},
        timeout=30,
    ).json()
    sent: list[dict[str, str]] = []
    routing = {"target_variant": "AllTraffic", "inference_component": "headline-ic"}
    with Client(sagemaker=target(runtime_url, **routing)) as client:
        transport = client.transport
        assert isinstance(transport, SageMakerTransport)

        def record(request: Any, **_: Any) -> None:
            sent.append({k.lower(): _text(v) for k, v in request.headers.items()})

        transport.runtime.meta.events.register("before-send.sagemaker-runtime.*", record)
        answers = client.classify(TEXTS, truncation="left")
    for answer, rows in zip(answers, direct, strict=True):
        assert isinstance(answer, Prediction)
        assert answer.scores == pytest.approx({r["label"]: r["score"] for r in rows}, abs=1e-5)
    headers = sent[0]
    assert headers["x-amzn-sagemaker-target-variant"] == "AllTraffic"
    assert headers["x-amzn-sagemaker-inference-component"] == "headline-ic"
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY}/")
    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "x-amzn-sagemaker-inference-component" in signed  # part of what the stand-in checked


def test_a_target_model_reaches_the_endpoint(runtime_url: str) -> None:
    """TargetModel is sent (and signed); this endpoint is not multi-model, so SageMaker (and
    the stand-in) answer ValidationError, which the client raises typed."""
    client = Client(sagemaker=target(runtime_url, target_model="model-a.tar.gz"))
    with client, pytest.raises(ServerError) as error:
        client.classify(TEXTS)
    assert error.value.status == 400 and error.value.kind == "ValidationError"
    assert "not multi-model" in error.value.message


def test_a_wrong_secret_is_refused_by_the_signature_check(runtime_url: str) -> None:
    client = Client(sagemaker=target(runtime_url, "not-the-secret"))
    with client, pytest.raises(ServerError) as error:
        client.classify(TEXTS)
    assert error.value.status == 403 and "signature" in error.value.message


def test_a_container_error_comes_back_as_the_servers_own(runtime_url: str) -> None:
    """The stand-in answers 424 ModelError; the client restores the container's 422."""
    client = Client(sagemaker=target(runtime_url), retry=RetryPolicy(attempts=1))
    with client, pytest.raises(ServerError) as error:
        client.classify(["  "])
    assert error.value.status == 422 and error.value.kind == "empty_text"


def test_a_jsonlines_file_streams_through_the_endpoint(runtime_url: str, tmp_path: Path) -> None:
    source, destination = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(
        "".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(TEXTS * 5))
    )
    with Client(sagemaker=target(runtime_url), max_items=3) as client:
        assert client.classify_file(source, destination) == 10
    rows = [json.loads(line) for line in destination.read_text().splitlines()]
    # The stand-in forwards no custom attributes (SageMaker does): top-1 answers, in order.
    assert len(rows) == 10 and [r["label"] for r in rows[:2]] * 5 == [r["label"] for r in rows]
