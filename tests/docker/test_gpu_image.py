"""The GPU serving image, built from the same base and run where there is no GPU.

Opt-in (`make test-docker-gpu-image`, or TEST_GPU_IMAGE=1): the build fetches about 3 GB of
CUDA and cuDNN wheels, too much for every CI run. Without a GPU the server must say that it
falls back to the CPU, and then serve there.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dockertools import (
    SESSION,
    build_image,
    free_port,
    http,
    remove_image,
    run,
    step,
    wait_for_ping,
)

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("TEST_GPU_IMAGE") != "1",
        reason="GPU image build is opt-in: make test-docker-gpu-image",
    ),
]


@pytest.fixture(scope="module")
def gpu_serving_image(standin_base_images: None, test_containers: str) -> Iterator[str]:
    with step("build serving image (GPU)"):
        image = build_image("docker/serve-gpu.Dockerfile", f"headline-serve:gpu-{SESSION}")
    try:
        yield image.tag
    finally:
        remove_image(image)


def test_gpu_image_finds_its_cuda_libraries(gpu_serving_image: str) -> None:
    probe = run(
        "docker", "run", "--rm", "--entrypoint", "/bin/sh", gpu_serving_image, "-c",
        "ldconfig -p | grep -E -o 'lib(cudnn|cublas|cudart)\\.so\\.[0-9]+' | sort -u;"
        " python -c 'import onnxruntime as o; print(o.get_available_providers())'",
    ).stdout  # fmt: skip
    for library in ("libcudnn.so", "libcublas.so", "libcudart.so"):
        assert library in probe, probe
    assert "CUDAExecutionProvider" in probe


def test_gpu_image_falls_back_to_cpu_without_a_gpu(
    gpu_serving_image: str, tiny_artifact: Path, test_containers: str
) -> None:
    name = f"hs-gpu-{uuid.uuid4().hex[:8]}"
    port = free_port()
    run(
        "docker", "run", "-d", "--name", name, "--label", test_containers,
        "-v", f"{tiny_artifact}:/opt/ml/model:ro", "-p", f"127.0.0.1:{port}:8080",
        gpu_serving_image, "serve",
    )  # fmt: skip
    try:
        wait_for_ping(f"http://127.0.0.1:{port}", name)
        status, body = http(
            "POST", f"http://127.0.0.1:{port}/invocations", json.dumps({"inputs": "a headline"}).encode(),
            {"Content-Type": "application/json"},
        )  # fmt: skip
        assert status == 200, body
        logs = run("docker", "logs", name)
        output = logs.stdout + logs.stderr
        assert "fell back to CPU" in output or "falling back to CPU" in output, output[-2000:]
        assert "Traceback" not in output
    finally:
        run("docker", "rm", "-f", name, check=False)
