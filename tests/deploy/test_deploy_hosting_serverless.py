"""`deploy --serverless`: the exact request, the checks before any call, the server it configures."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import Cloud, deploy_args, run_cli

from loadtests.local_server import local_server
from training.tiny_onnx_artifact import build_onnx_artifact

SERVERLESS = ("--serverless", "--memory", "2048", "--max-concurrency", "20", "--provisioned", "2")


def _model_environment(cloud: Cloud, name: str) -> dict[str, str]:
    model = cloud.client("sagemaker").describe_model(ModelName=name)
    return dict(model["PrimaryContainer"]["Environment"])


def test_serverless_endpoint_is_created_with_its_config_and_environment(
    cloud: Cloud, artifact: Path
) -> None:
    cloud.scripts.endpoint("headline", "Creating", "Creating", "InService")
    result = run_cli(*deploy_args("--artifact", str(artifact), *SERVERLESS))
    assert result.exit_code == 0, result.output
    assert "Creating" in result.stdout and "InService" in result.stdout  # the wait, shown
    [request] = cloud.scripts.config_calls
    [variant] = request["ProductionVariants"]
    assert variant == {
        "VariantName": "AllTraffic",
        "ModelName": variant["ModelName"],
        "ServerlessConfig": {
            "MemorySizeInMB": 2048,
            "MaxConcurrency": 20,
            "ProvisionedConcurrency": 2,
        },
    }
    assert "MetricsConfig" not in request and "DataCaptureConfig" not in request
    environment = _model_environment(cloud, variant["ModelName"])
    assert environment["SERVE_MEMORY_MB"] == "2048"
    assert environment["SAGEMAKER_MAX_PAYLOAD_IN_MB"] == "4"
    # Without detailed observability the server-health alarm has nothing to watch.
    alarms = cloud.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == ["headline-5xx-rate", "headline-p99-latency"]

    deleted = run_cli("delete", "--endpoint", "headline", "--yes")
    assert deleted.exit_code == 0, deleted.output
    sm = cloud.client("sagemaker")
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []


def test_user_env_wins_over_the_modes_environment(cloud: Cloud, artifact: Path) -> None:
    result = run_cli(
        *deploy_args("--artifact", str(artifact), *SERVERLESS, "--env", "SERVE_MEMORY_MB=1500")
    )
    assert result.exit_code == 0, result.output
    [request] = cloud.scripts.config_calls
    name = request["ProductionVariants"][0]["ModelName"]
    assert _model_environment(cloud, name)["SERVE_MEMORY_MB"] == "1500"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--serverless", "--memory", "1500"), "1024-6144 MB in 1 GB steps"),
        (("--serverless", "--memory", "8192"), "1024-6144 MB in 1 GB steps"),
        (("--serverless", "--max-concurrency", "0"), "--max-concurrency 0: must be 1-200"),
        (("--serverless", "--max-concurrency", "201"), "--max-concurrency 201: must be 1-200"),
        (("--serverless", "--max-concurrency", "4", "--provisioned", "5"), "--provisioned 5"),
        (("--serverless", "--instance-type", "ml.g5.xlarge"), "no GPU"),
        (("--serverless", "--instance-count", "2"), "no --instance-type or --instance-count"),
        (("--serverless", "--capture-percent", "10"), "no data capture"),
        (("--memory", "2048",), "--memory needs its hosting mode"),
        (("--serverless", "--async"), "choose one hosting mode"),
    ],
)  # fmt: skip
def test_serverless_limits_are_refused_before_any_call(
    cloud: Cloud, artifact: Path, flags: tuple[str, ...], message: str
) -> None:
    result = run_cli(*deploy_args("--artifact", str(artifact), *flags))
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert cloud.scripts.config_calls == []
    assert cloud.client("sagemaker").list_models()["Models"] == []


def test_an_instance_endpoint_is_not_turned_serverless_in_place(
    cloud: Cloud, artifact: Path
) -> None:
    assert run_cli(*deploy_args("--artifact", str(artifact))).exit_code == 0
    result = run_cli(*deploy_args("--artifact", str(artifact), *SERVERLESS))
    assert result.exit_code == 1
    assert "hosted real-time" in result.stderr and "serverless" in result.stderr
    assert len(cloud.scripts.config_calls) == 1, "nothing new created"


def _post(url: str, body: bytes, content_type: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


@pytest.mark.slow
def test_the_environment_deploy_sets_makes_the_server_keep_serverless_limits(
    cloud: Cloud, artifact: Path, tmp_path: Path
) -> None:
    """The model's environment, as deploy wrote it, given to a real server: it advertises and
    enforces serverless's 4 MB, where the default server takes 6."""
    assert run_cli(*deploy_args("--artifact", str(artifact), *SERVERLESS)).exit_code == 0
    name = cloud.scripts.config_calls[0]["ProductionVariants"][0]["ModelName"]
    environment = _model_environment(cloud, name)
    model = build_onnx_artifact(tmp_path / "model")
    body = json.dumps({"inputs": ["Stocks rally " * 100] * 4000}).encode()  # about 5 MB
    assert 4 * 2**20 < len(body) < 6 * 2**20
    with local_server(model, env=environment) as url:
        request = urllib.request.Request(f"{url}/execution-parameters")
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request) as answer:
            parameters = json.loads(answer.read())
        assert parameters["MaxPayloadInMB"] == 4
        status, _ = _post(f"{url}/invocations", body, "application/json")
        assert status == 413
