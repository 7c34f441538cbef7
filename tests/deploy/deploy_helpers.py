"""Shared pieces of the deploy tests: the account as set up, a fake artifact, the CLI runner."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import fake_sagemaker
from typer.testing import CliRunner

from deploy.cli import app
from service.backend.artifact import Manifest, QualityGate, VariantInfo, write_manifest

REGION = "eu-west-1"
ACCOUNT = "123456789012"
BUCKET = "models-bucket"
ROLE_NAME = "headline-sagemaker-execution"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
REPOSITORY = "headline-serve"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:v1"


@dataclass
class Cloud:
    url: str
    session: boto3.Session
    scripts: fake_sagemaker.Scripts

    def client(self, service: str) -> object:
        return self.session.client(service, endpoint_url=self.url)

    def endpoint_results(self, *bodies: str) -> None:
        """Queue what the next invoke_endpoint calls answer (moto's static results API)."""
        results = [
            {
                "Body": body,
                "ContentType": "application/json",
                "InvokedProductionVariant": "AllTraffic",
            }
            for body in bodies
        ]
        payload = json.dumps({"account_id": ACCOUNT, "region": REGION, "results": results})
        request = urllib.request.Request(
            f"{self.url}/moto-api/static/sagemaker/endpoint-results",
            data=payload.encode(),
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()


def make_artifact(directory: Path, accuracy: float = 0.91, gate_passed: bool = True) -> Path:
    """A structurally valid artifact: real manifest and checksums, placeholder model bytes."""
    directory.mkdir(parents=True)
    (directory / "model.onnx").write_bytes(b"onnx-placeholder" * 1024)
    (directory / "tokenizer.json").write_text('{"version": "1.0"}', encoding="utf-8")
    (directory / "metrics.json").write_text(json.dumps({"accuracy": accuracy}), encoding="utf-8")
    (directory / "README.md").write_text("# test model\n", encoding="utf-8")
    manifest = Manifest(
        model_version=f"20260101-000000-{int(accuracy * 1000)}",
        labels=["world", "sports", "business", "scitech"],
        max_length=48,
        variants={"fp32": VariantInfo(file="model.onnx", precision="fp32")},
        metrics={"accuracy": accuracy, "macro_f1": accuracy - 0.01},
        quality_gate=QualityGate(
            metric="accuracy", threshold=0.8, value=accuracy, passed=gate_passed
        ),
    )
    write_manifest(directory, manifest)
    return directory


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, input: str | None = None) -> Result:
    """Run `python -m deploy ARGS` in-process (the AWS calls still go over HTTP to moto)."""
    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def cli_ok(*args: str) -> str:
    """Run the CLI, insist it succeeded, and return its stdout."""
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def sent(calls: list[tuple[str, dict[str, Any]]], operation: str) -> list[dict[str, Any]]:
    """The parameters of each recorded call to `operation`, in order."""
    return [params for name, params in calls if name == operation]


def deploy_args(*extra: str) -> list[str]:
    return ["deploy", "--endpoint", "headline", "--image", IMAGE, "--poll-interval", "0.01", *extra]
