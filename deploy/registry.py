"""Model Package Groups: the quality gate before a model is registered, and its approval.

This is the condition step of a SageMaker pipeline done from the CLI: an artifact below the
accuracy threshold is refused; one above it becomes a model package version with its
evaluation metrics attached, `PendingManualApproval` until someone approves it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from deploy.artifacts import LocalArtifact, accuracy_of
from deploy.aws import Aws, tags
from deploy.errors import DeployError
from deploy.storage import ModelData, Uploader, version_prefix

STATUSES = {"approve": "Approved", "reject": "Rejected", "pending": "PendingManualApproval"}
PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/.+$")


def quality_gate(artifact: LocalArtifact, min_accuracy: float) -> float:
    accuracy = accuracy_of(artifact.manifest)
    if accuracy < min_accuracy:
        raise DeployError(
            f"quality gate: accuracy {accuracy:.4f} is below --min-accuracy {min_accuracy:.4f}; "
            "not registering this model"
        )
    return accuracy


def ensure_group(aws: Aws, group: str) -> None:
    try:
        aws.sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ValidationException":
            raise
        aws.sagemaker.create_model_package_group(
            ModelPackageGroupName=group,
            ModelPackageGroupDescription="headline-serve text classifiers",
            Tags=tags(),
        )


def register(
    aws: Aws,
    uploader: Uploader,
    group: str,
    artifact: LocalArtifact,
    data: ModelData,
    image: str,
    prefix: str,
    environment: dict[str, str],
    instance_types: list[str],
) -> str:
    """Create the package version (PendingManualApproval); return its ARN."""
    manifest = artifact.manifest
    metrics_body = json.dumps({"multiclass_classification_metrics": manifest.metrics}).encode()
    metrics_uri = uploader.put_json(
        f"{version_prefix(prefix, artifact)}/metrics.json", metrics_body
    )
    ensure_group(aws, group)
    container: dict[str, Any] = {"Image": image, **data.container_fields()}
    if environment:
        container["Environment"] = environment
    response = aws.sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"{manifest.model_name} {manifest.model_version}",
        InferenceSpecification={
            "Containers": [container],
            "SupportedContentTypes": ["application/json", "text/csv", "application/jsonlines"],
            "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": instance_types,
            "SupportedTransformInstanceTypes": instance_types,
        },
        ModelApprovalStatus="PendingManualApproval",
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}
            }
        },
        CustomerMetadataProperties={
            "model_version": manifest.model_version,
            **{key: f"{value:.6g}" for key, value in manifest.metrics.items()},
        },
        Tags=tags(model_version=manifest.model_version),
    )
    return str(response["ModelPackageArn"])


def resolve_package(aws: Aws, reference: str) -> str:
    """A package ARN from an ARN, `group/version`, or a group name (its newest version)."""
    if PACKAGE_ARN.match(reference):
        return reference
    group, _, version = reference.partition("/")
    listing = aws.sagemaker.list_model_packages(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"
    )["ModelPackageSummaryList"]
    for summary in listing:
        if not version or str(summary.get("ModelPackageVersion")) == version:
            return str(summary["ModelPackageArn"])
    raise DeployError(f"no model package {reference!r}; list them with `python -m deploy status`")


def set_status(aws: Aws, package_arn: str, status: str, note: str) -> None:
    aws.sagemaker.update_model_package(
        ModelPackageArn=package_arn, ModelApprovalStatus=status, ApprovalDescription=note
    )


def approved_package(aws: Aws, reference: str) -> dict[str, Any]:
    """The package's description, refusing one that is not Approved."""
    arn = resolve_package(aws, reference)
    package = dict(aws.sagemaker.describe_model_package(ModelPackageName=arn))
    status = package.get("ModelApprovalStatus")
    if status != "Approved":
        raise DeployError(
            f"model package {arn} is {status}, not Approved; approve it first: "
            f"`python -m deploy approve {arn}`"
        )
    return package
