"""register, approve, transform: the model registry and batch inference."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from deploy import config, names, registry
from deploy import transform as batch
from deploy.artifacts import open_artifact
from deploy.commands.endpoint_flags import Fleet
from deploy.commands.flag_groups import grouped
from deploy.commands.sources import (
    SourceFlags,
    UncompressedOpt,
    model_environment,
    preflight_role,
    require_image,
    resolve_source,
    upload_artifact,
)
from deploy.endpoint import create_model
from deploy.errors import ConfigError
from deploy.options import (
    DEFAULT_INSTANCE,
    DEFAULT_PREFIX,
    Bucket,
    Environment,
    Image,
    KmsKey,
    PollInterval,
    Prefix,
    Profile,
    Region,
    RoleArn,
    Timeout,
    connect,
    guarded,
    out,
    poll,
    show,
)
from deploy.storage import Uploader

Group = Annotated[str, typer.Option(envvar="DEPLOY_PACKAGE_GROUP", help="Model package group.")]
DEFAULT_GROUP = "headline-topics"


@guarded
def register(
    artifact: Annotated[Path, typer.Argument(help="Artifact directory or model.tar.gz.")],
    min_accuracy: Annotated[
        float, typer.Option(help="Quality gate: refuse below this test accuracy.")
    ],
    group: Group = DEFAULT_GROUP,
    image: Image = None,
    bucket: Bucket = None,
    prefix: Prefix = DEFAULT_PREFIX,
    uncompressed: UncompressedOpt = False,
    kms_key_id: KmsKey = None,
    instance_type: Annotated[
        list[str] | None, typer.Option(help="Supported instance types (repeatable).")
    ] = None,
    env: Environment = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Quality gate, then register the artifact as a model package pending manual approval."""
    if not 0.0 <= min_accuracy <= 1.0:
        raise ConfigError("--min-accuracy must be between 0 and 1")
    config.resource_name(group, "--group")
    bucket_name = config.bucket(bucket)
    types = [config.instance_type(t) for t in (instance_type or [DEFAULT_INSTANCE])]
    environment = model_environment(env)
    local, tarball = open_artifact(artifact)
    accuracy = registry.quality_gate(local, min_accuracy)
    out.print(f"quality gate passed: accuracy {accuracy:.4f} >= {min_accuracy:.4f}")
    aws = connect(region, profile)
    checked_image = require_image(aws, image)
    data, _ = upload_artifact(aws, (local, tarball), bucket_name, prefix, uncompressed, kms_key_id)
    arn = registry.register(
        aws,
        Uploader(aws, bucket_name, kms_key_id),
        group,
        local,
        data,
        checked_image,
        prefix,
        environment,
        types,
    )
    show("model package", arn)
    show("status", "PendingManualApproval")


@guarded
def approve(
    package: Annotated[str, typer.Argument(help="Package ARN, GROUP/VERSION, or GROUP (newest).")],
    reject: Annotated[bool, typer.Option(help="Reject instead of approving.")] = False,
    note: Annotated[str, typer.Option(help="Approval description.")] = "",
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Approve (or reject) a registered model package."""
    aws = connect(region, profile)
    arn = registry.resolve_package(aws, package)
    status = registry.STATUSES["reject" if reject else "approve"]
    registry.set_status(aws, arn, status, note or f"{status} from the deploy CLI")
    show("model package", arn)
    show("status", status)


@guarded
@grouped(source=SourceFlags, fleet=Fleet)
def transform(
    input_uri: Annotated[
        str, typer.Option("--input", help="s3:// prefix of JSON Lines or CSV files.")
    ],
    output_uri: Annotated[
        str | None, typer.Option("--output", help="s3:// prefix for results.")
    ] = None,
    data_format: Annotated[
        str, typer.Option("--format", help="jsonl or csv (one text per line).")
    ] = "jsonl",
    source: SourceFlags = SourceFlags(),
    role_arn: RoleArn = None,
    fleet: Fleet = Fleet(),
    max_concurrent: Annotated[
        int | None, typer.Option(help="Override the server's execution parameters.")
    ] = None,
    max_payload_mb: Annotated[
        int | None,
        typer.Option(
            help="Mini-batch size in MB (default: the server's /execution-parameters, 6)."
        ),
    ] = None,
    split_type: Annotated[
        str, typer.Option(help="Line (one record per line) or None (a file is one record).")
    ] = "Line",
    batch_strategy: Annotated[
        str, typer.Option(help="MultiRecord (mini-batches) or SingleRecord.")
    ] = "MultiRecord",
    join_source: Annotated[
        str, typer.Option(help="Input: join each answer to its input record (keeps ids).")
    ] = "None",
    input_filter: Annotated[
        str | None, typer.Option(help="JSONPath of what the server sees, e.g. '$[1]' (CSV).")
    ] = None,
    output_filter: Annotated[
        str | None, typer.Option(help="JSONPath of what is kept, e.g. '$[0,-2:]' (CSV).")
    ] = None,
    job_name: Annotated[
        str, typer.Option(help="Base of the job name (a version is appended).")
    ] = "headline-transform",
    timeout: Timeout = 3600,
    poll_interval: PollInterval = 30,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Run a batch transform job with the serving image over an S3 prefix."""
    config.s3_uri(input_uri, "--input")
    if data_format not in batch.CONTENT_TYPES:
        raise ConfigError("--format must be jsonl or csv")
    processing = batch.TransformSpec(  # the job's own checks, before any call
        job_name=job_name,
        model_name=job_name,
        input_uri=input_uri,
        output_uri=input_uri,
        max_concurrent=max_concurrent,
        max_payload_mb=max_payload_mb,
        split_type=split_type,
        batch_strategy=batch_strategy,
        join_source=join_source,
        input_filter=input_filter,
        output_filter=output_filter,
    )
    role = config.role_arn(role_arn)
    config.resource_name(job_name, "--job-name")
    name = names.versioned(job_name)
    if output_uri is None:
        output_uri = (
            f"s3://{config.bucket(source.bucket)}/{source.prefix.strip('/')}/transform/{name}/"
        )
    config.s3_uri(output_uri, "--output")
    waiting = poll(timeout, poll_interval)
    aws = connect(region, profile)  # validates the region; no call yet
    checked = source.checked()
    preflight_role(aws, role)
    create_model(aws, name, role, resolve_source(aws, checked), job_name)
    spec = replace(
        processing,
        job_name=name,
        model_name=name,
        output_uri=output_uri,
        data_format=data_format,
        instance_type=fleet.instance_type,
        instance_count=fleet.instance_count,
        kms_key_id=checked.kms_key_id,
    )
    batch.run(aws, spec, waiting, out)
    show("transform job", name)
    show("output", output_uri)
