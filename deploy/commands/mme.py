"""`models add | list | remove`: the models of a multi-model endpoint, tarballs under its S3
prefix. SageMaker loads one the first time an invocation names it (`invoke --target-model`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deploy import config, multi_model
from deploy.aws import Aws
from deploy.commands.operate import models_table
from deploy.options import (
    DEFAULT_PREFIX,
    Bucket,
    KmsKey,
    Prefix,
    Profile,
    Region,
    connect,
    guarded,
    out,
    show,
)

app = typer.Typer(
    name="models",
    help="The models of a multi-model endpoint: tarballs under its S3 prefix.",
    no_args_is_help=True,
)

ModelsPrefix = Annotated[
    str | None,
    typer.Option(
        envvar="DEPLOY_MODELS_PREFIX",
        help="s3:// prefix of the models (default: the --endpoint's, else PREFIX/models/).",
    ),
]
EndpointOpt = Annotated[str | None, typer.Option(help="Multi-model endpoint whose prefix to use.")]


def _prefix(
    aws: Aws, models_prefix: str | None, endpoint: str | None, bucket: str | None, prefix: str
) -> str:
    if endpoint is not None:
        config.resource_name(endpoint, "--endpoint")
    default = multi_model.default_prefix(bucket, prefix) if bucket else None
    return multi_model.resolve_prefix(aws, models_prefix, endpoint, default)


@app.command("add")
@guarded
def add(
    name: Annotated[str, typer.Argument(help="The model's name: its TargetModel is NAME.tar.gz.")],
    artifact: Annotated[Path, typer.Argument(help="Artifact directory or model.tar.gz.")],
    models_prefix: ModelsPrefix = None,
    endpoint: EndpointOpt = None,
    bucket: Bucket = None,
    prefix: Prefix = DEFAULT_PREFIX,
    kms_key_id: KmsKey = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Validate the artifact, pack it (a directory) and put it under the prefix as NAME.tar.gz."""
    multi_model.model_name(name)
    aws = connect(region, profile)
    where = _prefix(aws, models_prefix, endpoint, bucket, prefix)
    uri, sent = multi_model.add(aws, where, name, artifact, kms_key_id)
    show("model", f"{uri}" + ("" if sent else " (already there, same bytes)"))
    show("invoke", f"python -m deploy invoke --target-model {multi_model.model_name(name)}")


@app.command("list")
@guarded
def list_models(
    models_prefix: ModelsPrefix = None,
    endpoint: EndpointOpt = None,
    bucket: Bucket = None,
    prefix: Prefix = DEFAULT_PREFIX,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """The models under the prefix (what `invoke --target-model` can name)."""
    aws = connect(region, profile)
    where = _prefix(aws, models_prefix, endpoint, bucket, prefix)
    out.print(models_table(multi_model.listed(aws, where), where))


@app.command("remove")
@guarded
def remove(
    name: Annotated[str, typer.Argument(help="The model's name (or NAME.tar.gz).")],
    models_prefix: ModelsPrefix = None,
    endpoint: EndpointOpt = None,
    bucket: Bucket = None,
    prefix: Prefix = DEFAULT_PREFIX,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Delete NAME.tar.gz from the prefix. Instances that loaded it serve it until SageMaker
    unloads it; invocations that need it loaded fail from then on."""
    multi_model.model_name(name)
    aws = connect(region, profile)
    where = _prefix(aws, models_prefix, endpoint, bucket, prefix)
    show("removed", multi_model.remove(aws, where, name))
    out.print("instances that loaded it may answer for it until SageMaker unloads it", markup=False)
