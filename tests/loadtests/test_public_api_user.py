"""The public API's Locust user, end to end on loopback: Locust -> API Gateway stand-in (API
key checked) -> the real Lambda handler -> SageMaker runtime stand-in (SigV4) -> real server."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.public_api.lambda_handler import Classifier, HandlerConfig
from loadtests.public_api_calls import check_public_answer, public_body
from loadtests.public_api_gateway import GatewayConfig, running_gateway
from loadtests.sagemaker_emulator import EmulatorConfig, running_emulator
from loadtests.validation import InvalidResponse

RunPython = Callable[..., subprocess.CompletedProcess[str]]
KEY = "k3y-for-the-load-test"
ACCESS_KEY, SECRET_KEY = "AKIDPUBLICAPI", "public-api-secret"


@pytest.fixture
def public_api(server_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(name, value)
    emulator = EmulatorConfig(server_url, "headline-topics", ACCESS_KEY, SECRET_KEY)
    with running_emulator(emulator) as runtime_url:
        handler = Classifier(HandlerConfig("headline-topics", runtime_url=runtime_url))
        with running_gateway(GatewayConfig(handler, api_key=KEY)) as url:
            yield url


def _run(run_python: RunPython, url: str, out: Path, *extra: str, env: dict[str, str]) -> str:
    completed = run_python(
        "-m", "locust", "-f", "loadtests/public_api_locustfile.py", "--headless", "--only-summary",
        "-H", url, "-u", "2", "-r", "2", "-t", "4s", "--csv", str(out), *extra, env=env,
    )  # fmt: skip
    assert completed.returncode in {0, 1}, completed.stderr[-2000:]
    rows = Path(f"{out}_stats.csv").read_text().splitlines()
    return rows[-1] + "\n" + Path(f"{out}_failures.csv").read_text()


def _counts(summary: str) -> tuple[int, int]:
    aggregated = summary.splitlines()[0].split(",")
    return int(aggregated[2]), int(aggregated[3])  # Request Count, Failure Count


@pytest.mark.load
@pytest.mark.slow
def test_the_user_sends_the_api_key_and_checks_predictions(
    run_python: RunPython, public_api: str, tmp_path: Path
) -> None:
    good = _run(run_python, public_api, tmp_path / "good", env={"PUBLIC_API_KEY": KEY})
    requests, failures = _counts(good)
    assert requests > 5 and failures == 0, good
    wrong = _run(run_python, public_api, tmp_path / "wrong", "--api-key", "nope", env={})
    requests, failures = _counts(wrong)
    assert requests > 0 and failures == requests
    assert "HTTP 403" in wrong and "Forbidden" in wrong


def test_public_bodies_and_answer_checks() -> None:
    assert public_body(("a",), batch=False) == b'{"text": "a"}'
    assert public_body(("a", "b"), batch=True) == b'{"texts": ["a", "b"]}'
    good = b'{"predictions": [{"label": "x", "score": 0.5}], "request_id": "r"}'
    check_public_answer(200, good, 1, None)
    for status, body, message in [
        (200, b'[{"label": "x", "score": 0.5}]', 'no "predictions"'),
        (200, good, "1 predictions for 2 texts"),
        (429, b'{"message": "Too Many Requests"}', "HTTP 429"),
    ]:
        with pytest.raises(InvalidResponse, match=message):
            check_public_answer(status, body, 2 if "2 texts" in message else 1, None)
