"""Batch transform over an S3 prefix of JSON Lines or CSV, one record per line.

MaxConcurrentTransforms and MaxPayloadInMB are left unset unless given, so SageMaker asks the
container's `GET /execution-parameters` for them: the server knows its own batch limits (6 MB
mini-batches, which it answers as a stream, one output line per input record).

`JoinSource=Input` joins each answer back to its input record, so ids survive: CSV answers are
appended as columns, JSON answers go under `SageMakerOutput`. `InputFilter` picks what the
server sees (CSV: the text column, `$[1]`); `OutputFilter` what is kept (`$[0,-2:]`: the id and
the answer's label and score). JSON Lines records need no input filter: the server reads
`inputs` (or `text`) and ignores the record's other fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from deploy.aws import Aws, tags
from deploy.errors import ConfigError, DeployError
from deploy.waiting import Poll, wait_until_settled

CONTENT_TYPES = {"jsonl": "application/jsonlines", "csv": "text/csv"}
TRANSIENT = frozenset({"InProgress", "Stopping"})
SPLIT_TYPES = ("Line", "None")
BATCH_STRATEGIES = ("MultiRecord", "SingleRecord")
JOIN_SOURCES = ("None", "Input")
MAX_PAYLOAD_MB = 100  # SageMaker's limit, and on MaxPayloadInMB x MaxConcurrentTransforms
FILTER = re.compile(r"^\$.{0,62}$")  # a JSONPath of at most 63 characters


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
    split_type: str = "Line"
    batch_strategy: str = "MultiRecord"
    join_source: str = "None"
    input_filter: str | None = None
    output_filter: str | None = None

    def __post_init__(self) -> None:
        for flag, value, allowed in (
            ("--split-type", self.split_type, SPLIT_TYPES),
            ("--batch-strategy", self.batch_strategy, BATCH_STRATEGIES),
            ("--join-source", self.join_source, JOIN_SOURCES),
        ):
            if value not in allowed:
                raise ConfigError(f"{flag} must be one of {', '.join(allowed)} (got {value})")
        for flag, path in (
            ("--input-filter", self.input_filter),
            ("--output-filter", self.output_filter),
        ):
            if path is not None and not FILTER.match(path):
                raise ConfigError(
                    f"{flag} {path!r} must be a JSONPath ($...) of at most 63 characters"
                )
        if self.batch_strategy == "MultiRecord" and self.split_type == "None":
            raise ConfigError(
                "--batch-strategy MultiRecord needs --split-type Line (records to batch)"
            )
        if self.join_source == "Input" and self.split_type != "Line":
            raise ConfigError("--join-source Input needs --split-type Line (one answer per record)")
        if self.max_payload_mb is not None and not 1 <= self.max_payload_mb <= MAX_PAYLOAD_MB:
            raise ConfigError(f"--max-payload-mb must be 1-{MAX_PAYLOAD_MB}")
        if (self.max_payload_mb or 0) * (self.max_concurrent or 0) > MAX_PAYLOAD_MB:
            raise ConfigError(
                f"--max-payload-mb x --max-concurrent must be at most {MAX_PAYLOAD_MB} (SageMaker)"
            )


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
        "BatchStrategy": spec.batch_strategy,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": spec.input_uri}},
            "ContentType": content_type,
            "SplitType": spec.split_type,
            "CompressionType": "None",
        },
        "TransformOutput": output,
        "TransformResources": {
            "InstanceType": spec.instance_type,
            "InstanceCount": spec.instance_count,
        },
        "Tags": tags(),
    }
    processing = {
        key: value
        for key, value in (
            ("InputFilter", spec.input_filter),
            ("OutputFilter", spec.output_filter),
            ("JoinSource", spec.join_source if spec.join_source != "None" else None),
        )
        if value is not None
    }
    if processing:
        job["DataProcessing"] = processing
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
