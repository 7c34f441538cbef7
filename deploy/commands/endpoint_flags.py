"""The instances a command runs on, and how an endpoint's variant is configured: flag groups
(see `flag_groups`) checked when made, before any AWS call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from deploy import config
from deploy.endpoint import EndpointSpec
from deploy.errors import ConfigError
from deploy.options import DEFAULT_INSTANCE, InstanceType


@dataclass(frozen=True)
class Fleet:
    instance_type: InstanceType = DEFAULT_INSTANCE
    instance_count: Annotated[
        int, typer.Option(help="Instances behind the endpoint (or for the job).")
    ] = 1

    def __post_init__(self) -> None:
        config.instance_type(self.instance_type)
        config.positive(self.instance_count, "--instance-count", 100)


@dataclass(frozen=True)
class EndpointFlags:
    startup_timeout: Annotated[
        int, typer.Option(help="ContainerStartupHealthCheckTimeoutInSeconds.")
    ] = 600
    download_timeout: Annotated[int, typer.Option(help="ModelDataDownloadTimeoutInSeconds.")] = 600
    volume_size: Annotated[
        int | None, typer.Option(help="ML storage volume in GB (EBS-backed types only).")
    ] = None
    capture_percent: Annotated[int, typer.Option(help="Data capture sampling %, 0 = off.")] = 0
    rollback_alarm: Annotated[
        list[str] | None,
        typer.Option(help="CloudWatch alarm that rolls a blue/green update back (repeatable)."),
    ] = None

    def __post_init__(self) -> None:
        config.positive(self.startup_timeout, "--startup-timeout", 3600)
        config.positive(self.download_timeout, "--download-timeout", 3600)
        if self.volume_size is not None:
            config.positive(self.volume_size, "--volume-size", 512)
        if not 0 <= self.capture_percent <= 100:
            raise ConfigError("--capture-percent must be between 0 and 100")

    def spec(self, endpoint: str, fleet: Fleet, bucket: str | None, prefix: str) -> EndpointSpec:
        """The endpoint's spec; captured requests go under PREFIX/capture/ENDPOINT."""
        if self.capture_percent and not bucket:
            raise ConfigError("--capture-percent needs --bucket for the captured data")
        return EndpointSpec(
            endpoint_name=endpoint,
            instance_type=fleet.instance_type,
            instance_count=fleet.instance_count,
            startup_health_timeout_s=self.startup_timeout,
            model_download_timeout_s=self.download_timeout,
            volume_size_gb=self.volume_size,
            capture_uri=f"s3://{bucket}/{prefix.strip('/')}/capture/{endpoint}"
            if self.capture_percent
            else None,
            capture_percent=self.capture_percent,
            rollback_alarms=tuple(self.rollback_alarm or ()),
        )
