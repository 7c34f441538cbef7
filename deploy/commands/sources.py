"""Where a command's model comes from (artifact, S3 data or approved package), and checks
that fail fast before anything is created: the role exists, the image is in ECR."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
from deploy.options import (
    DEFAULT_PREFIX,
    Bucket,
    Environment,
    Image,
    KmsKey,
    Prefix,
    err,
    out,
    show,
)
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


@dataclass(frozen=True)
class SourceFlags:
    """The model source as typed: `--artifact | --model-data | --package` and where it goes."""

    artifact: ArtifactOpt = None
    model_data: ModelDataOpt = None
    package: PackageOpt = None
    image: Image = None
    bucket: Bucket = None
    prefix: Prefix = DEFAULT_PREFIX
    uncompressed: UncompressedOpt = False
    kms_key_id: KmsKey = None
    env: Environment = None

    def checked(self) -> SourceOptions:
        """Validated without any AWS call; run it before the first one."""
        return SourceOptions(
            artifact=self.artifact,
            model_data=self.model_data,
            package=self.package,
            image=self.image,
            bucket=self.bucket,
            prefix=self.prefix,
            uncompressed=self.uncompressed,
            kms_key_id=self.kms_key_id,
            environment=model_environment(self.env),
        )


@dataclass(frozen=True)
class SourceOptions:
    """Exactly one model source, checked once when made (`SourceFlags.checked`)."""

    artifact: Path | None = None
    model_data: str | None = None
    package: str | None = None
    image: str | None = None
    bucket: str | None = None
    prefix: str = DEFAULT_PREFIX
    uncompressed: bool = False
    kms_key_id: str | None = None
    environment: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ENVIRONMENT))
    image_pushed: bool = False  # pushed by this command: no need to look it up in ECR

    def __post_init__(self) -> None:
        given = [
            flag
            for flag, value in (
                ("--artifact", self.artifact),
                ("--model-data", self.model_data),
                ("--package", self.package),
            )
            if value
        ]
        if len(given) != 1:
            raise ConfigError("give exactly one of --artifact, --model-data or --package")
        if self.model_data:
            config.s3_uri(self.model_data, "--model-data")
            if not self.model_data.endswith((".tar.gz", "/")):
                raise ConfigError(
                    "--model-data must end in .tar.gz, or / for an uncompressed prefix"
                )
        if self.artifact:
            config.bucket(self.bucket)

    def with_pushed_image(self, uri: str) -> SourceOptions:
        return replace(self, image=uri, image_pushed=True)


def resolve_source(aws: Aws, source: SourceOptions) -> ModelSource:
    """The checked source turned into a container source (uploading an artifact first)."""
    if source.package:
        described = registry.approved_package(aws, source.package)
        show("model package", described["ModelPackageArn"])
        return ModelSource(package_arn=str(described["ModelPackageArn"]))
    image = require_image(aws, source.image, source.image_pushed)
    if source.model_data:
        data = ModelData(source.model_data, compressed=source.model_data.endswith(".tar.gz"))
        return ModelSource(image=image, data=data, environment=source.environment)
    if source.artifact is None:  # unreachable: SourceOptions holds exactly one source
        raise ConfigError("--artifact is required")
    data, manifest = upload_artifact(
        aws,
        source.artifact,
        config.bucket(source.bucket),
        source.prefix,
        source.uncompressed,
        source.kms_key_id,
    )
    show("model data", f"{data.uri} ({manifest.model_version})")
    return ModelSource(image=image, data=data, environment=source.environment)


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
