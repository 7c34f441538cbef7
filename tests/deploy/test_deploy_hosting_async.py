"""`deploy --async` and `invoke --async`: the exact requests, backlog autoscaling to zero and
back, answers from a real server through the stand-in's S3 round trip, and the teardown."""

from __future__ import annotations

import json
from pathlib import Path

import fake_hosting
import pytest
from deploy_helpers import BUCKET, Cloud, deploy_args, run_cli

from deploy.autoscale import DIMENSION

OK_TOPIC = "arn:aws:sns:eu-west-1:123456789012:headline-done"
ERROR_TOPIC = "arn:aws:sns:eu-west-1:123456789012:headline-failed"
OUTPUT = f"s3://{BUCKET}/headline-serve/async/headline/"
ASYNC = (
    "--async", "--output", OUTPUT, "--sns-success", OK_TOPIC, "--sns-error", ERROR_TOPIC,
    "--max-concurrent", "4", "--max-instances", "3",
)  # fmt: skip


def _deploy(artifact: Path, *extra: str) -> None:
    result = run_cli(*deploy_args("--artifact", str(artifact), *ASYNC, *extra))
    assert result.exit_code == 0, result.output


def test_async_endpoint_config_environment_and_scaling_to_zero(
    cloud: Cloud, artifact: Path
) -> None:
    _deploy(artifact)
    [request] = cloud.scripts.config_calls
    assert request["AsyncInferenceConfig"] == {
        "OutputConfig": {
            "S3OutputPath": f"{OUTPUT}output",
            "S3FailurePath": f"{OUTPUT}failure",
            "NotificationConfig": {"SuccessTopic": OK_TOPIC, "ErrorTopic": ERROR_TOPIC},
        },
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
    }
    [variant] = request["ProductionVariants"]
    assert variant["InstanceType"] == "ml.c5.xlarge" and variant["InitialInstanceCount"] == 1
    model = cloud.client("sagemaker").describe_model(ModelName=variant["ModelName"])
    environment = model["PrimaryContainer"]["Environment"]
    assert environment["SERVE_MAX_STREAM_MB"] == "1024"
    assert environment["SERVE_REQUEST_TIMEOUT_S"] == "3600"

    scaling = cloud.client("application-autoscaling")
    [target] = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == "endpoint/headline/variant/AllTraffic"
    assert (target["ScalableDimension"], target["MinCapacity"], target["MaxCapacity"]) == (
        DIMENSION, 0, 3,
    )  # fmt: skip
    policies = {
        p["PolicyType"]: p
        for p in scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    }
    tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["CustomizedMetricSpecification"] == {
        "MetricName": "ApproximateBacklogSizePerInstance",
        "Namespace": "AWS/SageMaker",
        "Dimensions": [{"Name": "EndpointName", "Value": "headline"}],
        "Statistic": "Average",
    }
    assert tracking["TargetValue"] == 5.0
    step = policies["StepScaling"]
    assert step["StepScalingPolicyConfiguration"]["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}
    ]
    [alarm] = cloud.client("cloudwatch").describe_alarms(
        AlarmNames=["headline-has-backlog-without-capacity"]
    )["MetricAlarms"]
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity"
    assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": "headline"}]
    assert alarm["AlarmActions"] == [step["PolicyARN"]]

    deleted = run_cli("delete", "--endpoint", "headline", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert cloud.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert cloud.client("sagemaker").list_endpoints()["Endpoints"] == []


def test_min_instances_above_zero_needs_no_wake_up_policy(cloud: Cloud, artifact: Path) -> None:
    _deploy(artifact, "--min-instances", "1")
    scaling = cloud.client("application-autoscaling")
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert [p["PolicyType"] for p in policies] == ["TargetTrackingScaling"]


def test_invoke_async_uploads_waits_and_prints_one_answer_per_record(
    cloud: Cloud, artifact: Path, serving_container: str, tmp_path: Path
) -> None:
    _deploy(artifact)
    fake_hosting.STATE.containers["headline"] = serving_container
    records = [
        {"id": 17, "inputs": "Stocks rally as the central bank holds rates"},
        {"id": 18, "inputs": "Cup final goes to extra time"},
        {"id": 19, "text": "New chip doubles battery life"},
    ]
    source = tmp_path / "batch.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    saved = tmp_path / "answers.jsonl"
    result = run_cli(
        "invoke", "--endpoint", "headline", "--async", "--input", str(source),
        "--save", str(saved), "--poll-interval", "0.05",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [call] = fake_hosting.STATE.async_calls
    assert call["ContentType"] == call["Accept"] == "application/jsonlines"
    assert call["InvocationTimeoutSeconds"] == "3600"
    key = call["InputLocation"].removeprefix(f"s3://{BUCKET}/")
    assert key.startswith("headline-serve/async-input/headline/") and key.endswith("-batch.jsonl")
    uploaded = cloud.client("s3").get_object(Bucket=BUCKET, Key=key)
    assert uploaded["Body"].read() == source.read_bytes()
    assert uploaded["ServerSideEncryption"] == "AES256"
    answers = [json.loads(line) for line in saved.read_text(encoding="utf-8").splitlines()]
    assert len(answers) == len(records)
    assert all(isinstance(a["label"], str) and 0 <= a["score"] <= 1 for a in answers)
    assert f"{OUTPUT}output/" in result.stdout and ".out" in result.stdout


def test_invoke_async_reports_the_failure_object(
    cloud: Cloud, artifact: Path, serving_container: str, tmp_path: Path
) -> None:
    _deploy(artifact)
    fake_hosting.STATE.containers["headline"] = serving_container
    source = tmp_path / "broken.json"
    source.write_text('{"inputs": ', encoding="utf-8")  # the server answers 400
    result = run_cli(
        "invoke", "--endpoint", "headline", "--async", "--input", str(source),
        "--poll-interval", "0.05",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "failed" in result.stderr and "(400)" in result.stderr
    assert f"{OUTPUT}failure/" in result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--async", "--sns-success", "topic"), "is not an SNS topic ARN"),
        (("--async", "--max-concurrent", "0"), "--max-concurrent 0"),
        (("--async", "--output", "https://bucket/x"), "--output"),
        (("--async", "--max-input-mb", "2048"), "--max-input-mb 2048"),
        (("--async", "--min-instances", "5", "--max-instances", "2"), "--min-instances"),
        (("--async", "--smoke-text", "hello"), "invoke --async --input FILE"),
        (("--sns-error", ERROR_TOPIC), "--sns-error needs its hosting mode"),
    ],
)
def test_async_limits_are_refused_before_any_call(
    cloud: Cloud, artifact: Path, flags: tuple[str, ...], message: str
) -> None:
    result = run_cli(*deploy_args("--artifact", str(artifact), *flags))
    assert result.exit_code == 2
    assert message in result.stderr
    assert cloud.client("sagemaker").list_models()["Models"] == []


def test_invoke_async_flags_are_checked(cloud: Cloud, tmp_path: Path) -> None:
    missing = run_cli("invoke", "--endpoint", "headline", "--async", "--input", str(tmp_path / "x"))
    assert missing.exit_code == 2 and "--async needs --input FILE" in missing.stderr
    stray = run_cli("invoke", "--endpoint", "headline", "--text", "a", "--save", "out.txt")
    assert stray.exit_code == 2 and "--save goes with --async" in stray.stderr
