"""Where a command's model comes from (artifact, S3 data or approved package), and checks
that fail fast before anything is created: the role exists, the image is in ECR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import ClientError
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from deploy import config, ecr, registry
from deploy.artifacts import LocalArtifact, build_tarball, open_artifact
from deploy.aws import Aws
from deploy.endpoint import ModelSource
from deploy.errors import ConfigError, DeployError
from deploy.options import err, out, show
from deploy.storage import ModelData, Uploader
from service.backend.artifact import Manifest

ArtifactOpt = Annotated[
    Path | None, typer.Option(help="Artifact directory or model.tar.gz (uploaded first).")
]
ModelDataOpt = Annotated[
    str | None, typer.Option(help="Model data already in S3: .../model.tar.gz or a prefix/.")
]
PackageOpt = Annotated[
    str | None,
    typer.Option(help="Approved model package: ARN, GROUP/VERSION, or GROUP for its newest."),
]
UncompressedOpt = Annotated[
    bool,
    typer.Option(help="Upload files uncompressed (ModelDataSource, CompressionType=None)."),
]

# JSON log lines are searchable in CloudWatch Logs Insights; --env overrides.
DEFAULT_ENVIRONMENT = {"SERVE_LOG_FORMAT": "json"}


def model_environment(pairs: list[str] | None) -> dict[str, str]:
    return DEFAULT_ENVIRONMENT | config.env_pairs(pairs or [])


def upload_artifact(
    aws: Aws,
    path: Path | tuple[LocalArtifact, Path | None],
    bucket: str,
    prefix: str,
    uncompressed: bool,
    kms_key_id: str | None,
) -> tuple[ModelData, Manifest]:
    """Validate (unless given already opened) and upload; a progress bar on a terminal."""
    artifact, tarball = open_artifact(path) if isinstance(path, Path) else path
    if uncompressed and tarball is not None:
        raise ConfigError("--uncompressed needs the artifact directory, not a tarball")
    if not uncompressed and tarball is None:
        tarball = build_tarball(artifact)
    files = [tarball] if tarball is not None else artifact.files
    uploader = Uploader(aws, bucket, kms_key_id)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=out,
        transient=True,
        disable=not out.is_terminal,
    ) as progress:
        task = progress.add_task("uploading", total=sum(f.stat().st_size for f in files))
        data, sent = uploader.upload(
            artifact,
            prefix,
            compressed=not uncompressed,
            tarball=tarball,
            progress=lambda n: progress.advance(task, n),
        )
    if not sent:
        out.print("model data already in S3 with the same checksum; nothing uploaded")
    return data, artifact.manifest


def require_image(aws: Aws, image: str | None, pushed: bool = False) -> str:
    if not image:
        raise ConfigError(
            "--image (or DEPLOY_IMAGE: the URI `push` printed) or --local-image is required"
        )
    if not pushed and ecr.image_exists(aws, image) is False:
        raise DeployError(
            f"image {image} is not in ECR; push it first with `python -m deploy push`"
        )
    return image


def check_source_flags(
    artifact: Path | None, model_data: str | None, package: str | None, bucket: str | None
) -> None:
    """The flag checks of `resolve_source`, without any AWS call (run them first)."""
    given = [
        flag
        for flag, value in (
            ("--artifact", artifact),
            ("--model-data", model_data),
            ("--package", package),
        )
        if value
    ]
    if len(given) != 1:
        raise ConfigError("give exactly one of --artifact, --model-data or --package")
    if model_data:
        config.s3_uri(model_data, "--model-data")
        if not (model_data.endswith(".tar.gz") or model_data.endswith("/")):
            raise ConfigError("--model-data must end in .tar.gz, or / for an uncompressed prefix")
    if artifact:
        config.bucket(bucket)


def resolve_source(
    aws: Aws,
    artifact: Path | None,
    model_data: str | None,
    package: str | None,
    image: str | None,
    bucket: str | None,
    prefix: str,
    uncompressed: bool,
    kms_key_id: str | None,
    environment: dict[str, str],
    image_pushed: bool = False,
) -> ModelSource:
    """Exactly one of --artifact, --model-data, --package, turned into a container source."""
    check_source_flags(artifact, model_data, package, bucket)
    if package:
        described = registry.approved_package(aws, package)
        show("model package", described["ModelPackageArn"])
        return ModelSource(package_arn=str(described["ModelPackageArn"]))
    if model_data:
        data = ModelData(model_data, compressed=model_data.endswith(".tar.gz"))
        return ModelSource(
            image=require_image(aws, image, image_pushed), data=data, environment=environment
        )
    if artifact is None:  # unreachable after check_source_flags; narrows the type
        raise ConfigError("--artifact is required")
    bucket_name = config.bucket(bucket)
    checked_image = require_image(aws, image, image_pushed)
    data, manifest = upload_artifact(aws, artifact, bucket_name, prefix, uncompressed, kms_key_id)
    show("model data", f"{data.uri} ({manifest.model_version})")
    return ModelSource(image=checked_image, data=data, environment=environment)


def preflight_role(aws: Aws, role_arn: str) -> None:
    """Fail early and clearly when the execution role does not exist."""
    name = role_arn.rsplit("/", 1)[-1]
    try:
        aws.iam.get_role(RoleName=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "NoSuchEntity":
            raise DeployError(
                f"execution role {role_arn} does not exist; create it with the trust policy "
                "deploy/iam/execution-role-trust.json and deploy/iam/execution-role-policy.json"
            ) from exc
        if code in {"AccessDenied", "AccessDeniedException"}:
            err.print("[dim]cannot read the execution role (no iam:GetRole); not checked[/dim]")
            return
        raise
