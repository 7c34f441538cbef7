"""The CPU serving image, run exactly as SageMaker runs it (`docker run ... IMAGE serve`)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from dockertools import container_state, free_port, http, run, step, wait_for_ping
from tokenizers import Tokenizer

from service.backend.artifact import load_manifest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TEXTS = [
    "Stocks rally as the central bank holds rates",
    "Champions league final goes to extra time",
    "New vaccine trial shows promise in early results",
]


def inspect(image: str) -> dict[str, object]:
    return json.loads(run("docker", "image", "inspect", image).stdout)[0]  # type: ignore[no-any-return]


def expected_scores(artifact: Path, texts: list[str]) -> np.ndarray:
    """Class probabilities computed on the host, straight from the artifact's fp32 graph."""
    manifest = load_manifest(artifact)
    tokenizer = Tokenizer.from_file(str(artifact / manifest.tokenizer))
    session = ort.InferenceSession(str(artifact / manifest.variants["fp32"].file))
    rows = []
    for text in texts:
        ids = tokenizer.encode(text).ids[: manifest.max_length]
        feeds = {
            "input_ids": np.array([ids], dtype=np.int64),
            "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
        }
        logits = session.run([manifest.output_name], feeds)[0][0]
        exp = np.exp(logits - logits.max())
        rows.append(exp / exp.sum())
    return np.array(rows)


@pytest.fixture(scope="module")
def sagemaker_container(
    serving_image: str, tiny_artifact: Path, test_containers: str
) -> Iterator[tuple[str, str]]:
    """The serving image started as a SageMaker endpoint starts it; (name, base URL)."""
    name = f"hs-serve-{uuid.uuid4().hex[:8]}"
    port = free_port()
    with step("docker run IMAGE serve"):
        run(
            "docker", "run", "-d", "--name", name, "--label", test_containers,
            "-v", f"{tiny_artifact}:/opt/ml/model:ro",
            "-p", f"127.0.0.1:{port}:8080",
            serving_image, "serve",
        )  # fmt: skip
    try:
        yield name, f"http://127.0.0.1:{port}"
    finally:
        run("docker", "rm", "-f", name, check=False)


def test_serving_image_is_lean_and_sagemaker_ready(serving_image: str) -> None:
    info = inspect(serving_image)
    size_mb = int(info["Size"]) / 1e6  # type: ignore[call-overload]
    print(f"\n[docker] serving image: {size_mb:.0f} MB")
    assert size_mb < 600
    config = info["Config"]
    assert isinstance(config, dict)
    assert config["Labels"]["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    # AWS "Build your own container for multi-model endpoints": the image says it speaks /models.
    assert config["Labels"]["com.amazonaws.sagemaker.capabilities.multi-models"] == "true"
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Entrypoint"] == ["/usr/local/bin/entrypoint"]  # exec form
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert not [e for e in config["Env"] if e.split("=", 1)[0].startswith(("AWS_", "HF_TOKEN"))]
    probe = run(
        "docker", "run", "--rm", "--entrypoint", "/bin/sh", serving_image, "-c",
        "for m in torch transformers onnxruntime tokenizers; do"
        " python -c \"import $m\" 2>/dev/null && echo has:$m || echo no:$m; done;"
        " for c in gcc cc g++ clang; do command -v $c >/dev/null && echo has:$c; done; true",
    ).stdout.split()  # fmt: skip
    assert probe == ["no:torch", "no:transformers", "has:onnxruntime", "has:tokenizers"]


def test_serving_image_says_it_cannot_train(serving_image: str) -> None:
    result = run("docker", "run", "--rm", serving_image, "train", check=False)
    assert result.returncode == 2
    assert "no 'train' command" in result.stderr
    assert "Traceback" not in result.stderr


def test_serves_like_a_sagemaker_endpoint(
    sagemaker_container: tuple[str, str], tiny_artifact: Path
) -> None:
    name, url = sagemaker_container
    with step("first 200 from /ping"):
        ready_s = wait_for_ping(url, name)
    print(f"[docker] tiny model ready {ready_s:.1f} s after docker run returned")
    status, body = http("GET", f"{url}/ping")
    assert (status, body) == (200, b"")

    request = {"inputs": TEXTS, "parameters": {"return_all_scores": True}}
    status, body = http(
        "POST", f"{url}/invocations", json.dumps(request).encode(),
        {"Content-Type": "application/json", "Accept": "application/json"},
    )  # fmt: skip
    assert status == 200, body
    answers = json.loads(body)
    labels = load_manifest(tiny_artifact).labels
    got = np.array(
        [[next(s["score"] for s in row if s["label"] == lab) for lab in labels] for row in answers]
    )
    np.testing.assert_allclose(got, expected_scores(tiny_artifact, TEXTS), atol=1e-3)

    status, _ = http(
        "POST", f"{url}/invocations", b"{not json", {"Content-Type": "application/json"}
    )
    assert status == 400
    status, body = http("GET", f"{url}/metrics")
    assert status == 200 and b"serve_requests_total" in body


def test_healthcheck_turns_healthy(sagemaker_container: tuple[str, str]) -> None:
    name, url = sagemaker_container
    wait_for_ping(url, name)
    deadline = time.monotonic() + 30
    health = ""
    while time.monotonic() < deadline:
        health = run("docker", "inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()
        if health == "healthy":
            break
        time.sleep(1)
    assert health == "healthy"


def test_sigterm_stops_it_cleanly_within_30_s(sagemaker_container: tuple[str, str]) -> None:
    name, url = sagemaker_container
    wait_for_ping(url, name)
    started = time.monotonic()
    with step("docker stop (SIGTERM)"):
        run("docker", "stop", "--time", "30", name, timeout=60)
    stopped_in = time.monotonic() - started
    assert stopped_in < 30
    assert container_state(name) == "exited"
    code = run("docker", "inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
    logs = run("docker", "logs", name)
    assert code == "0", logs.stdout + logs.stderr
    assert "Traceback" not in logs.stdout + logs.stderr


def test_refuses_a_directory_that_is_no_artifact(
    serving_image: str, tmp_path: Path, test_containers: str
) -> None:
    name = f"hs-bad-{uuid.uuid4().hex[:8]}"
    port = free_port()
    run(
        "docker", "run", "-d", "--name", name, "--label", test_containers,
        "-v", f"{tmp_path}:/opt/ml/model:ro", "-p", f"127.0.0.1:{port}:8080",
        serving_image, "serve",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and container_state(name) == "running":
            with contextlib.suppress(OSError):  # not listening (yet): not ready either
                assert http("GET", f"http://127.0.0.1:{port}/ping")[0] != 200
            time.sleep(0.5)
        logs = run("docker", "logs", name)
        output = logs.stdout + logs.stderr
        assert "manifest.json" in output
        assert "Traceback" not in output
    finally:
        run("docker", "rm", "-f", name, check=False)
