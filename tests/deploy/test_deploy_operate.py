"""autoscale, invoke, status and delete against a deployed endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_helpers import BUCKET, REPOSITORY, Cloud, deploy_args, run_cli


@pytest.fixture
def deployed(cloud: Cloud, artifact: Path) -> Cloud:
    result = run_cli(*deploy_args("--artifact", str(artifact)))
    assert result.exit_code == 0, result.output
    return cloud


def test_autoscale_tracks_high_resolution_concurrency(deployed: Cloud) -> None:
    result = run_cli(
        "autoscale", "--endpoint", "headline", "--min", "1", "--max", "3", "--target", "6",
        "--scale-in-cooldown", "400", "--scale-out-cooldown", "30",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scaling = deployed.client("application-autoscaling")
    resource = "endpoint/headline/variant/AllTraffic"
    [target] = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource]
    )["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
    [policy] = scaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)[
        "ScalingPolicies"
    ]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantConcurrentRequestsPerModelHighResolution"
    )
    assert (tracking["TargetValue"], tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (
        6.0,
        400,
        30,
    )
    status = run_cli("status", "--endpoint", "headline")
    assert "1-3" in status.stdout

    off = run_cli("autoscale", "--endpoint", "headline", "--off")
    assert off.exit_code == 0
    targets = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource]
    )
    assert targets["ScalableTargets"] == []


def test_autoscale_rejects_min_above_max_before_any_call(cloud: Cloud) -> None:
    result = run_cli("autoscale", "--endpoint", "headline", "--min", "5", "--max", "2")
    assert result.exit_code == 2
    assert "--min 5 is above --max 2" in result.stderr


def test_invoke_prints_the_answer_and_latency(deployed: Cloud) -> None:
    deployed.endpoint_results('{"predictions": [{"label": "sports", "score": 0.97}]}')
    result = run_cli("invoke", "--endpoint", "headline", "--text", "Cup final tonight")
    assert result.exit_code == 0, result.output
    assert '"label": "sports"' in result.stdout
    assert "latency:" in result.stdout and " ms " in result.stdout


def test_status_shows_the_endpoint_and_says_when_there_is_none(deployed: Cloud) -> None:
    result = run_cli("status", "--endpoint", "headline")
    assert result.exit_code == 0, result.output
    assert "InService" in result.stdout and "ml.c5.xlarge x 1" in result.stdout
    missing = run_cli("status", "--endpoint", "nothing-here")
    assert missing.exit_code == 1
    assert "does not exist" in missing.stdout


def test_delete_asks_first_then_removes_only_what_deploy_made(deployed: Cloud) -> None:
    sm = deployed.client("sagemaker")
    # Someone else's model whose name merely starts like ours must survive.
    sm.create_model(
        ModelName="headline-legacy",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/other",
        PrimaryContainer={"Image": "other"},
    )
    declined = run_cli("delete", "--endpoint", "headline", input="n\n")
    assert declined.exit_code == 1
    assert sm.describe_endpoint(EndpointName="headline")["EndpointStatus"] == "InService"

    result = run_cli("delete", "--endpoint", "headline", "--yes", "--artifacts", "--images")
    assert result.exit_code == 0, result.output
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["headline-legacy"]
    assert "Contents" not in deployed.client("s3").list_objects_v2(Bucket=BUCKET)
    assert deployed.client("ecr").list_images(repositoryName=REPOSITORY)["imageIds"] == []
    assert run_cli("delete", "--endpoint", "headline", "--yes").stdout.startswith(
        "nothing to delete"
    )


def test_autoscale_on_invocations_per_instance_has_its_own_default_target(deployed: Cloud) -> None:
    result = run_cli("autoscale", "--endpoint", "headline", "--metric", "invocations")
    assert result.exit_code == 0, result.output
    scaling = deployed.client("application-autoscaling")
    [policy] = scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId="endpoint/headline/variant/AllTraffic"
    )["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantInvocationsPerInstance"
    )
    assert tracking["TargetValue"] == 3000.0


def test_update_that_changes_the_instance_type_under_autoscaling_is_refused(
    deployed: Cloud, artifact: Path
) -> None:
    assert run_cli("autoscale", "--endpoint", "headline").exit_code == 0
    result = run_cli(*deploy_args("--artifact", str(artifact), "--instance-type", "ml.m5.xlarge"))
    assert result.exit_code == 1
    assert "autoscale --endpoint headline --off" in result.stderr
    same_type = run_cli(*deploy_args("--artifact", str(artifact)))
    assert same_type.exit_code == 0, same_type.output


@pytest.mark.parametrize("content_type", ["application/json", "text/csv", "application/jsonlines"])
def test_request_bodies_decode_with_the_servers_own_codecs(content_type: str) -> None:
    from deploy.invoke import body_for
    from service.api.codecs import Options, decode

    texts = ['Oil, gas "rally" as OPEC cuts', "Cup final tonight"]
    decoded = decode(content_type, body_for(texts, content_type), Options(), max_texts=10)
    assert decoded.texts == texts


def test_invoke_sends_a_file_as_is(deployed: Cloud, tmp_path: Path) -> None:
    body = tmp_path / "texts.csv"
    body.write_text("first headline\nsecond headline\n", encoding="utf-8")
    deployed.endpoint_results('{"predictions": [{"label": "world"}, {"label": "business"}]}')
    result = run_cli(
        "invoke", "--endpoint", "headline", "--file", str(body), "--content-type", "text/csv"
    )
    assert result.exit_code == 0, result.output
    assert '"business"' in result.stdout
