"""`register` (the quality gate), `approve`, and deploying an approved package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy_helpers import BUCKET, IMAGE, Cloud, deploy_args, make_artifact, run_cli

GROUP = "headline-topics"


def _packages(cloud: Cloud) -> list[dict[str, Any]]:
    sm = cloud.client("sagemaker")
    listing = sm.list_model_packages(ModelPackageGroupName=GROUP)
    packages: list[dict[str, Any]] = listing["ModelPackageSummaryList"]
    return packages


def _register(artifact: Path, min_accuracy: str = "0.85") -> tuple[int, str, str]:
    result = run_cli("register", str(artifact), "--min-accuracy", min_accuracy, "--image", IMAGE)
    return result.exit_code, result.stdout, result.stderr


def test_below_the_gate_nothing_is_registered(cloud: Cloud, artifact: Path) -> None:
    code, _, stderr = _register(artifact, "0.95")
    assert code == 1
    assert "accuracy 0.9100 is below --min-accuracy 0.9500" in stderr
    sm = cloud.client("sagemaker")
    assert sm.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


def test_registered_package_carries_metrics_and_waits_for_approval(
    cloud: Cloud, artifact: Path
) -> None:
    code, stdout, stderr = _register(artifact)
    assert code == 0, stderr
    assert "quality gate passed" in stdout
    [summary] = _packages(cloud)
    assert summary["ModelApprovalStatus"] == "PendingManualApproval"
    sm = cloud.client("sagemaker")
    package = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == IMAGE
    assert container["ModelDataUrl"].endswith("/model.tar.gz")
    assert package["CustomerMetadataProperties"]["accuracy"] == "0.91"
    metrics_uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    key = metrics_uri.removeprefix(f"s3://{BUCKET}/")
    body = cloud.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert json.loads(body)["multiclass_classification_metrics"]["accuracy"] == 0.91


def test_only_an_approved_package_deploys(cloud: Cloud, artifact: Path, tmp_path: Path) -> None:
    assert _register(artifact)[0] == 0
    blocked = run_cli(*deploy_args("--package", GROUP))
    assert blocked.exit_code == 1
    assert "PendingManualApproval, not Approved" in blocked.stderr

    approved = run_cli("approve", f"{GROUP}/1", "--note", "reviewed")
    assert approved.exit_code == 0, approved.output
    assert _packages(cloud)[0]["ModelApprovalStatus"] == "Approved"

    result = run_cli(*deploy_args("--package", GROUP))
    assert result.exit_code == 0, result.output
    sm = cloud.client("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName="headline")
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["ModelPackageName"] == _packages(cloud)[0]["ModelPackageArn"]

    newer = make_artifact(tmp_path / "newer", accuracy=0.93)
    assert _register(newer)[0] == 0
    rejected = run_cli("approve", GROUP, "--reject")
    assert rejected.exit_code == 0
    statuses = {p["ModelPackageVersion"]: p["ModelApprovalStatus"] for p in _packages(cloud)}
    assert statuses == {1: "Approved", 2: "Rejected"}


def test_unknown_package_is_a_clear_error(cloud: Cloud) -> None:
    result = run_cli("approve", f"{GROUP}/7")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1
