"""Batch transform over an S3 prefix of JSON Lines or CSV, one record per line.

MaxConcurrentTransforms and MaxPayloadInMB are left unset unless given, so SageMaker asks the
container's `GET /execution-parameters` for them: the server knows its own batch limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console

from deploy.aws import Aws, tags
from deploy.errors import DeployError
from deploy.waiting import Poll, wait_until_settled

CONTENT_TYPES = {"jsonl": "application/jsonlines", "csv": "text/csv"}
TRANSIENT = frozenset({"InProgress", "Stopping"})


@dataclass(frozen=True)
class TransformSpec:
    job_name: str
    model_name: str
    input_uri: str
    output_uri: str
    data_format: str = "jsonl"
    instance_type: str = "ml.c5.xlarge"
    instance_count: int = 1
    max_concurrent: int | None = None
    max_payload_mb: int | None = None
    kms_key_id: str | None = None


def request(spec: TransformSpec) -> dict[str, Any]:
    content_type = CONTENT_TYPES[spec.data_format]
    output: dict[str, Any] = {
        "S3OutputPath": spec.output_uri,
        "Accept": "application/jsonlines" if spec.data_format == "jsonl" else "text/csv",
        "AssembleWith": "Line",
    }
    if spec.kms_key_id:
        output["KmsKeyId"] = spec.kms_key_id
    job: dict[str, Any] = {
        "TransformJobName": spec.job_name,
        "ModelName": spec.model_name,
        "BatchStrategy": "MultiRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": spec.input_uri}},
            "ContentType": content_type,
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": output,
        "TransformResources": {
            "InstanceType": spec.instance_type,
            "InstanceCount": spec.instance_count,
        },
        "Tags": tags(),
    }
    if spec.max_concurrent:
        job["MaxConcurrentTransforms"] = spec.max_concurrent
    if spec.max_payload_mb:
        job["MaxPayloadInMB"] = spec.max_payload_mb
    return job


def run(aws: Aws, spec: TransformSpec, poll: Poll, console: Console) -> dict[str, Any]:
    aws.sagemaker.create_transform_job(**request(spec))
    final = wait_until_settled(
        lambda: dict(aws.sagemaker.describe_transform_job(TransformJobName=spec.job_name)),
        "TransformJobStatus",
        TRANSIENT,
        f"transform job {spec.job_name}",
        poll,
        console,
    )
    # The Model was made for this job alone; once the job has ended nothing needs it.
    aws.sagemaker.delete_model(ModelName=spec.model_name)
    if final["TransformJobStatus"] != "Completed":
        raise DeployError(
            f"transform job {spec.job_name} {final['TransformJobStatus']}: "
            f"{final.get('FailureReason') or 'no reason given'} (CloudWatch logs: "
            "/aws/sagemaker/TransformJobs)"
        )
    return final
