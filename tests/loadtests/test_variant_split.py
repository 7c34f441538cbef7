"""A multi-variant endpoint on loopback: the SageMaker runtime stand-in serves two named
variants, each forwarding to the real server; calls pick one by weight or by TargetVariant,
and a Locust run reports its results per variant from the invoked-variant header."""

from __future__ import annotations

import csv
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from deploy.cli import app
from loadtests.sagemaker_emulator import (
    EmulatedVariant,
    EmulatorConfig,
    parse_variant,
    running_emulator,
)

RunPython = Callable[..., subprocess.CompletedProcess[str]]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDVARIANTS", "AWS_SECRET_ACCESS_KEY": "variants-secret"}
BODY = b'{"inputs": ["Stocks rally as the central bank holds rates"]}'


@pytest.fixture
def two_variants(server_url: str) -> Iterator[str]:
    variants = (EmulatedVariant("A", server_url, 3.0), EmulatedVariant("B", server_url, 1.0))
    access_key, secret_key = CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    config = EmulatorConfig(server_url, "demo", access_key, secret_key, variants)
    with running_emulator(config) as url:
        yield url


def _runtime(url: str) -> Any:
    return boto3.client(
        "sagemaker-runtime", region_name="us-east-1", endpoint_url=url,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip


def test_target_variant_picks_the_variant_and_weights_share_the_rest(two_variants: str) -> None:
    runtime = _runtime(two_variants)
    answer = runtime.invoke_endpoint(
        EndpointName="demo", Body=BODY, ContentType="application/json", TargetVariant="B"
    )
    assert answer["InvokedProductionVariant"] == "B"
    assert b'"label"' in answer["Body"].read()
    with pytest.raises(ClientError, match="has no variant C"):
        runtime.invoke_endpoint(
            EndpointName="demo", Body=BODY, ContentType="application/json", TargetVariant="C"
        )
    drawn = Counter(
        runtime.invoke_endpoint(EndpointName="demo", Body=BODY, ContentType="application/json")[
            "InvokedProductionVariant"
        ]
        for _ in range(200)
    )
    assert set(drawn) == {"A", "B"}
    assert 0.6 < drawn["A"] / 200 < 0.9  # weight 3 of 4: 0.75, binomial sd about 0.03


def test_deploy_invoke_variant_reaches_that_variant_of_the_real_server(
    two_variants: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in {**CREDENTIALS, "AWS_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": two_variants,
                       "AWS_CONFIG_FILE": str(tmp_path / "none")}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(
        app, ["invoke", "--endpoint", "demo", "--variant", "B", "--text", "Cup final tonight"]
    )
    assert result.exit_code == 0, result.output
    assert '"label"' in result.stdout and "variant B" in result.stdout


def test_emulator_variant_flag_parses_name_url_and_weight() -> None:
    assert parse_variant("A=http://127.0.0.1:8080@2.5") == EmulatedVariant(
        "A", "http://127.0.0.1:8080", 2.5
    )
    assert parse_variant("B=http://127.0.0.1:8081/").weight == 1.0
    with pytest.raises(ValueError, match="NAME=URL"):
        parse_variant("no-url")


@pytest.mark.load
@pytest.mark.slow
def test_a_locust_run_reports_results_per_variant(
    run_python: RunPython, two_variants: str, tmp_path: Path
) -> None:
    report = tmp_path / "report"
    completed = run_python(
        "-m", "locust", "-f", "loadtests/sagemaker_locustfile.py", "--headless", "--only-summary",
        "--endpoint-name", "demo", "--endpoint-url", two_variants, "--region", "us-east-1",
        "-u", "2", "-r", "2", "-t", "4s", "--mix", "json_single=1", "--report-dir", str(report),
        env=CREDENTIALS,
    )  # fmt: skip
    assert completed.returncode == 0
    with (report / "samples.csv").open(encoding="utf-8") as handle:
        per_variant = Counter(row["variant"] for row in csv.DictReader(handle))
    assert set(per_variant) == {"A", "B"} and per_variant["A"] > per_variant["B"] > 0
    summary = (report / "summary.md").read_text(encoding="utf-8")
    assert "Per production variant" in summary
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in summary.splitlines()
            if line.startswith("| A |") or line.startswith("| B |")}  # fmt: skip
    assert {name: int(cells[0]) for name, cells in rows.items()} == dict(per_variant)
    assert all(int(cells[1]) == 0 for cells in rows.values())  # no failures
