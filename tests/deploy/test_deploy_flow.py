"""End to end: `deploy`, blue/green updates, rollbacks and failures, against moto over HTTP.

Endpoint states that moto skips (Creating, Updating, Failed, SageMaker's own rollback) are
scripted through `fake_sagemaker.SCRIPTS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy_helpers import BUCKET, IMAGE, Cloud, deploy_args, make_artifact, run_cli


def _endpoint(cloud: Cloud) -> dict[str, Any]:
    endpoint: dict[str, Any] = cloud.client("sagemaker").describe_endpoint(EndpointName="headline")
    return endpoint


def _configs(cloud: Cloud) -> list[str]:
    listing = cloud.client("sagemaker").list_endpoint_configs(NameContains="headline")
    return sorted(c["EndpointConfigName"] for c in listing["EndpointConfigs"])


def test_first_deploy_creates_model_config_and_endpoint(cloud: Cloud, artifact: Path) -> None:
    cloud.scripts.endpoint("headline", "Creating", "Creating", "InService")
    result = run_cli(*deploy_args("--artifact", str(artifact), "--instance-count", "2"))
    assert result.exit_code == 0, result.output
    assert "Creating" in result.stdout and "InService" in result.stdout
    sm = cloud.client("sagemaker")
    endpoint = _endpoint(cloud)
    assert endpoint["EndpointStatus"] == "InService"
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.c5.xlarge"
    assert variant["InitialInstanceCount"] == 2
    assert variant["RoutingConfig"] == {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 600
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 600
    assert "DataCaptureConfig" not in config or not config["DataCaptureConfig"]
    container = sm.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
    assert container["Image"] == IMAGE
    assert container["ModelDataUrl"].startswith(f"s3://{BUCKET}/headline-serve/headline-topics/")
    assert container["Environment"]["SERVE_LOG_FORMAT"] == "json"


def test_update_is_blue_green_on_a_new_config_and_keeps_the_old_one(
    cloud: Cloud, artifact: Path
) -> None:
    assert run_cli(*deploy_args("--artifact", str(artifact))).exit_code == 0
    first = _endpoint(cloud)["EndpointConfigName"]
    cloud.scripts.endpoint("headline", "Updating", "Updating", "InService")
    result = run_cli(*deploy_args("--artifact", str(artifact), "--env", "SERVE_MAX_BATCH_SIZE=8"))
    assert result.exit_code == 0, result.output
    second = _endpoint(cloud)["EndpointConfigName"]
    assert second != first
    assert _configs(cloud) == sorted([first, second])
    update = cloud.scripts.update_calls[-1]
    assert update["EndpointConfigName"] == second
    policy = update["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"


def test_failed_update_that_sagemaker_rolled_back_is_reported_and_cleaned_up(
    cloud: Cloud, artifact: Path
) -> None:
    assert run_cli(*deploy_args("--artifact", str(artifact))).exit_code == 0
    first = _endpoint(cloud)["EndpointConfigName"]
    cloud.scripts.endpoint("headline", "Updating", "RolledBack:health check failed on /ping")
    result = run_cli(*deploy_args("--artifact", str(artifact)))
    assert result.exit_code == 1
    assert "health check failed on /ping" in result.stderr
    assert f"SageMaker kept {first} serving" in result.stderr
    assert "Traceback" not in result.output
    assert _endpoint(cloud)["EndpointConfigName"] == first
    assert _configs(cloud) == [first], "the config that never served is removed"


def test_update_rollback_failed_is_rolled_back_to_the_previous_config(
    cloud: Cloud, artifact: Path
) -> None:
    assert run_cli(*deploy_args("--artifact", str(artifact))).exit_code == 0
    first = _endpoint(cloud)["EndpointConfigName"]
    cloud.scripts.endpoint(
        "headline", "Updating", "UpdateRollbackFailed:capacity error", "Updating", "InService"
    )
    result = run_cli(*deploy_args("--artifact", str(artifact)))
    assert result.exit_code == 1
    assert f"rolled back to {first}" in result.stderr
    assert _endpoint(cloud)["EndpointConfigName"] == first
    assert cloud.scripts.update_calls[-1]["EndpointConfigName"] == first


def test_smoke_test_failure_rolls_the_update_back(cloud: Cloud, artifact: Path) -> None:
    cloud.endpoint_results('{"predictions": [{"label": "sports"}]}')
    first_run = run_cli(*deploy_args("--artifact", str(artifact), "--smoke-text", "Cup final"))
    assert first_run.exit_code == 0, first_run.output
    assert "smoke test passed" in first_run.stdout
    first = _endpoint(cloud)["EndpointConfigName"]
    cloud.endpoint_results("<html>502 Bad Gateway</html>")
    result = run_cli(*deploy_args("--artifact", str(artifact), "--smoke-text", "Cup semi final"))
    assert result.exit_code == 1
    assert "smoke test" in result.stderr and f"rolled back to {first}" in result.stderr
    assert _endpoint(cloud)["EndpointConfigName"] == first


def test_failed_endpoint_shows_the_reason_and_blocks_further_updates(
    cloud: Cloud, artifact: Path
) -> None:
    reason = "CannotStartContainerError: the container did not answer /ping"
    cloud.scripts.endpoint("headline", "Creating", f"Failed:{reason}")
    result = run_cli(*deploy_args("--artifact", str(artifact)))
    assert result.exit_code == 1
    assert reason in result.stderr
    assert "python -m deploy delete headline" in result.stderr
    again = run_cli(*deploy_args("--artifact", str(artifact)))
    assert again.exit_code == 1
    assert "is Failed" in again.stderr and "only allows deleting" in again.stderr


def test_waiting_gives_up_at_the_timeout(cloud: Cloud, artifact: Path) -> None:
    cloud.scripts.endpoint("headline", *["Creating"] * 500)
    result = run_cli(*deploy_args("--artifact", str(artifact), "--timeout", "0.2"))
    assert result.exit_code == 1
    assert "still Creating after 0 s" in result.stderr


def test_rollback_command_returns_to_the_previous_config(cloud: Cloud, artifact: Path) -> None:
    assert run_cli(*deploy_args("--artifact", str(artifact))).exit_code == 0
    first = _endpoint(cloud)["EndpointConfigName"]
    newer = make_artifact(artifact.parent / "newer", accuracy=0.93)
    assert run_cli(*deploy_args("--artifact", str(newer))).exit_code == 0
    assert _endpoint(cloud)["EndpointConfigName"] != first
    result = run_cli("rollback", "--endpoint", "headline", "--poll-interval", "0.01")
    assert result.exit_code == 0, result.output
    assert _endpoint(cloud)["EndpointConfigName"] == first


def test_uncompressed_model_data_and_data_capture(cloud: Cloud, artifact: Path) -> None:
    result = run_cli(
        *deploy_args("--artifact", str(artifact), "--uncompressed", "--capture-percent", "20")
    )
    assert result.exit_code == 0, result.output
    sm = cloud.client("sagemaker")
    config = sm.describe_endpoint_config(EndpointConfigName=_endpoint(cloud)["EndpointConfigName"])
    capture = config["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == 20
    assert capture["DestinationS3Uri"] == f"s3://{BUCKET}/headline-serve/capture/headline"
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    source = model["PrimaryContainer"]["ModelDataSource"]["S3DataSource"]
    assert source["CompressionType"] == "None" and source["S3DataType"] == "S3Prefix"
    assert source["S3Uri"].endswith("/model/")


def test_deploy_from_model_data_already_in_s3(cloud: Cloud, artifact: Path) -> None:
    uploaded = run_cli("upload", str(artifact))
    assert uploaded.exit_code == 0, uploaded.output
    uri = next(
        line.split(": ", 1)[1] for line in uploaded.stdout.splitlines() if "model data" in line
    )
    result = run_cli(*deploy_args("--model-data", uri.strip()))
    assert result.exit_code == 0, result.output


def test_missing_image_is_refused_before_anything_is_created(cloud: Cloud, artifact: Path) -> None:
    # A later --image wins over the one deploy_args gives.
    result = run_cli(
        *deploy_args("--artifact", str(artifact), "--image", IMAGE.replace(":v1", ":v9"))
    )
    assert result.exit_code == 1
    assert "not in ECR" in result.stderr and "python -m deploy push" in result.stderr
    assert cloud.client("sagemaker").list_models()["Models"] == []


def test_missing_execution_role_is_named(cloud: Cloud, artifact: Path) -> None:
    missing = "arn:aws:iam::123456789012:role/no-such-role"
    result = run_cli(*deploy_args("--artifact", str(artifact), "--role-arn", missing))
    assert result.exit_code == 1
    assert f"execution role {missing} does not exist" in result.stderr
    assert cloud.client("sagemaker").list_models()["Models"] == []


def test_old_versions_beyond_keep_are_pruned_after_a_deploy(cloud: Cloud, artifact: Path) -> None:
    serving = []
    for _ in range(4):
        result = run_cli(*deploy_args("--artifact", str(artifact), "--keep-versions", "2"))
        assert result.exit_code == 0, result.output
        serving.append(_endpoint(cloud)["EndpointConfigName"])
    assert "removed 1 old versions" in result.stdout
    assert _configs(cloud) == sorted(serving[-2:])
    models = cloud.client("sagemaker").list_models()["Models"]
    assert sorted(m["ModelName"] for m in models) == sorted(serving[-2:])
