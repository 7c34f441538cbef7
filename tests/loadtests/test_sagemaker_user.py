"""The SageMaker user class through boto3, against two stand-ins: our invoke_endpoint emulator
forwarding to the real server (SigV4 recomputed), and a moto server with canned answers."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from loadtests.dataset import load_texts
from loadtests.local_server import free_port
from loadtests.sagemaker_emulator import EmulatorConfig, running_emulator

RunPython = Callable[..., subprocess.CompletedProcess[str]]

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDLOADTEST", "AWS_SECRET_ACCESS_KEY": "load-test-secret"}


def _sagemaker_run(
    run_python: RunPython,
    endpoint_url: str,
    tmp_path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return run_python(
        "-m", "locust", "-f", "loadtests/sagemaker_locustfile.py", "--headless", "--only-summary",
        "--endpoint-name", "demo", "--endpoint-url", endpoint_url, "--region", "us-east-1",
        "-u", "2", "-r", "2", "-t", "4s", "--csv", str(tmp_path / "sm"), "--slo-max-fail-ratio", "0", *extra,
        env={**CREDENTIALS, **(env or {})},
    )  # fmt: skip


def _aggregate(tmp_path: Path) -> dict[str, str]:
    rows = (tmp_path / "sm_stats.csv").read_text().splitlines()
    header, aggregated = rows[0].split(","), rows[-1].split(",")
    return dict(zip(header, aggregated, strict=False))


@pytest.mark.load
@pytest.mark.slow
def test_signed_invocations_reach_the_real_server(
    run_python: RunPython, server_url: str, tmp_path: Path
) -> None:
    config = EmulatorConfig(
        server_url, "demo", CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    )
    with running_emulator(config) as endpoint_url:
        good = _sagemaker_run(run_python, endpoint_url, tmp_path / "good")
        forged = _sagemaker_run(
            run_python, endpoint_url, tmp_path / "forged", env={"AWS_SECRET_ACCESS_KEY": "wrong"}
        )
    assert good.returncode == 0
    stats = _aggregate(tmp_path / "good")
    assert int(stats["Request Count"]) > 5 and int(stats["Failure Count"]) == 0
    assert forged.returncode == 1
    assert "InvalidSignatureException" in (tmp_path / "forged" / "sm_failures.csv").read_text()


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.mark.load
@pytest.mark.slow
def test_user_class_speaks_boto3_to_a_moto_endpoint(
    run_python: RunPython, moto_endpoint: str, tmp_path: Path
) -> None:
    # moto answers each distinct body with the next queued result: one per sample text.
    answer = {
        "Body": json.dumps([{"label": "business", "score": 0.9}]),
        "ContentType": "application/json",
    }
    queued = {"results": [answer] * (len(load_texts(None)) + 10), "region": "us-east-1"}
    request = urllib.request.Request(
        f"{moto_endpoint}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps(queued).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()
    completed = _sagemaker_run(run_python, moto_endpoint, tmp_path, "--mix", "json_single=1")
    assert completed.returncode == 0
    stats = _aggregate(tmp_path)
    assert int(stats["Request Count"]) > 5 and int(stats["Failure Count"]) == 0


def test_bodies_over_six_mib_are_refused_before_sending(run_python: RunPython) -> None:
    probe = (
        "from types import SimpleNamespace\n"
        "from loadtests.users import SageMakerUser\n"
        "fake = SimpleNamespace(runtime=None, endpoint_name='demo', settings=None)\n"
        "print(SageMakerUser._invoke(fake, 'text/csv', b'x' * (6 * 1024 * 1024 + 1), 1))\n"
    )
    completed = run_python("-c", probe, timeout=60)
    assert completed.returncode == 0
    assert "exceeds SageMaker's 6 MiB limit (not sent)" in completed.stdout


def test_missing_endpoint_name_is_one_clear_line(run_python: RunPython, tmp_path: Path) -> None:
    completed = run_python(
        "-m",
        "locust",
        "-f",
        "loadtests/sagemaker_locustfile.py",
        "--headless",
        "-t",
        "1s",
        timeout=60,
    )
    assert completed.returncode == 2
    assert "error: --endpoint-name is required" in completed.stderr
    assert "Traceback" not in completed.stderr
