"""SageMaker Model, EndpointConfig and Endpoint: create, or update blue/green with rollback.

An update never edits a config in place: it creates a new Model and EndpointConfig and asks
SageMaker to move the endpoint onto them. SageMaker's blue/green update keeps the old fleet
serving until the new one passes its health checks, and returns to the old config itself when
it does not; we report that, recover an `UpdateRollbackFailed` endpoint by moving it back to the
previous config, and roll back ourselves when the caller's smoke test fails on the new version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console

from deploy import autoscale, names, observability
from deploy.aws import Aws, tags
from deploy.errors import DeployError
from deploy.hosting_modes import Asynchronous, Hosting, RealTime, Serverless, mode_of
from deploy.rollout import Rollout
from deploy.storage import ModelData
from deploy.waiting import Poll, wait_until_settled

ENDPOINT_TRANSIENT = frozenset(
    {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}
)
SmokeTest = Callable[[str], None]


@dataclass(frozen=True)
class EndpointSpec:
    endpoint_name: str
    instance_type: str = "ml.c5.xlarge"
    instance_count: int = 1
    variant_name: str = "AllTraffic"
    startup_health_timeout_s: int = 600
    model_download_timeout_s: int = 600
    volume_size_gb: int | None = None
    capture_uri: str | None = None
    capture_percent: int = 0
    rollback_alarms: tuple[str, ...] = ()
    rollout: Rollout = field(default_factory=Rollout)
    metrics_frequency_s: int | None = None  # detailed observability on, publishing this often
    hosting: Hosting = field(default_factory=RealTime)


@dataclass(frozen=True)
class ModelSource:
    """An uploaded artifact plus image, or an approved model package."""

    image: str | None = None
    data: ModelData | None = None
    package_arn: str | None = None
    environment: dict[str, str] | None = None
    metrics_frequency_s: int | None = None  # detailed observability scrapes /metrics this often
    multi_model: bool = False  # `data` is the models' prefix, loaded on demand by TargetModel

    def container(self) -> dict[str, Any]:
        if self.package_arn:
            package: dict[str, Any] = {"ModelPackageName": self.package_arn}
            if self.environment:  # a hosting mode's limits, over the package's own
                package["Environment"] = dict(self.environment)
            return self._scraped(package)
        if not self.image or not self.data:
            raise DeployError("an image and model data (or --package) are required")
        container: dict[str, Any] = {"Image": self.image, **self.data.container_fields()}
        if self.multi_model:
            container["Mode"] = "MultiModel"
        if self.environment:
            container["Environment"] = dict(self.environment)
        return self._scraped(container)

    def _scraped(self, container: dict[str, Any]) -> dict[str, Any]:
        if self.metrics_frequency_s:
            container["ContainerMetricsConfig"] = observability.container_metrics_config(
                self.metrics_frequency_s
            )
        return container


def describe_endpoint(aws: Aws, name: str) -> dict[str, Any] | None:
    try:
        return dict(aws.sagemaker.describe_endpoint(EndpointName=name))
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if "Could not find endpoint" in message:
            return None
        raise


def create_model(aws: Aws, name: str, role_arn: str, source: ModelSource, endpoint: str) -> str:
    aws.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=role_arn,
        PrimaryContainer=source.container(),
        Tags=tags(endpoint=endpoint),
    )
    return name


def _variant(model_name: str, spec: EndpointSpec) -> dict[str, Any]:
    if isinstance(spec.hosting, Serverless):
        # No instances, volumes, routing or startup timeouts: SageMaker runs the container on
        # demand and gives it a fixed 3 minutes to answer /ping.
        return {
            "VariantName": spec.variant_name,
            "ModelName": model_name,
            "ServerlessConfig": spec.hosting.config(),
        }
    variant: dict[str, Any] = {
        "VariantName": spec.variant_name,
        "ModelName": model_name,
        "InstanceType": spec.instance_type,
        "InitialInstanceCount": spec.instance_count,
        "InitialVariantWeight": 1.0,
        "ContainerStartupHealthCheckTimeoutInSeconds": spec.startup_health_timeout_s,
        "ModelDataDownloadTimeoutInSeconds": spec.model_download_timeout_s,
        "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
    }
    if spec.volume_size_gb:
        variant["VolumeSizeInGB"] = spec.volume_size_gb
    return variant


def create_endpoint_config(aws: Aws, name: str, model_name: str, spec: EndpointSpec) -> str:
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [_variant(model_name, spec)],
        "Tags": tags(endpoint=spec.endpoint_name),
    }
    if isinstance(spec.hosting, Asynchronous):
        request["AsyncInferenceConfig"] = spec.hosting.config()
    if not isinstance(spec.hosting, Serverless):
        # Sent either way: a new config without it has detailed observability on.
        request["MetricsConfig"] = observability.metrics_config(spec.metrics_frequency_s)
    if spec.capture_percent and spec.capture_uri:
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": spec.capture_percent,
            "DestinationS3Uri": spec.capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {
                "JsonContentTypes": ["application/json"],
                "CsvContentTypes": ["text/csv"],
            },
        }
    aws.sagemaker.create_endpoint_config(**request)
    return name


class EndpointDeployer:
    def __init__(self, aws: Aws, console: Console, poll: Poll) -> None:
        self.aws = aws
        self.console = console
        self.poll = poll

    def _wait(self, name: str) -> dict[str, Any]:
        return wait_until_settled(
            lambda: dict(self.aws.sagemaker.describe_endpoint(EndpointName=name)),
            "EndpointStatus",
            ENDPOINT_TRANSIENT,
            f"endpoint {name}",
            self.poll,
            self.console,
        )

    def deploy(
        self, spec: EndpointSpec, source: ModelSource, role_arn: str, smoke: SmokeTest | None = None
    ) -> dict[str, Any]:
        """Create the endpoint or move it to a new version; return its final description."""
        name = spec.endpoint_name
        existing = describe_endpoint(self.aws, name)
        if existing is not None:
            self._check_updatable(spec, existing)
        version = names.versioned(name)
        create_model(self.aws, version, role_arn, source, name)
        create_endpoint_config(self.aws, version, version, spec)
        self.console.print(f"model and endpoint config [bold]{version}[/bold] created")
        if existing is None:
            return self._create(name, version, smoke)
        return self._update(spec, existing["EndpointConfigName"], version, smoke)

    def _check_updatable(self, spec: EndpointSpec, existing: dict[str, Any]) -> None:
        """Refuse updates SageMaker would refuse, before creating anything."""
        name, status = spec.endpoint_name, existing["EndpointStatus"]
        if status in ENDPOINT_TRANSIENT:
            raise DeployError(
                f"endpoint {name} is {status}; wait until it settles (`python -m deploy status {name}`)"
            )
        if status == "Failed":
            raise DeployError(
                f"endpoint {name} is Failed ({existing.get('FailureReason', 'no reason given')}); "
                f"SageMaker only allows deleting it: `python -m deploy delete {name}`"
            )
        current = self.aws.sagemaker.describe_endpoint_config(
            EndpointConfigName=existing["EndpointConfigName"]
        )
        if mode_of(current) != spec.hosting.mode:
            raise DeployError(
                f"endpoint {name} is hosted {mode_of(current)}; SageMaker cannot move it to "
                f"{spec.hosting.mode} in place: deploy under another --endpoint, or "
                f"`python -m deploy delete --endpoint {name}` first"
            )
        if autoscale.current(self.aws, name, spec.variant_name) is None:
            return
        types = {v["InstanceType"] for v in current["ProductionVariants"] if "InstanceType" in v}
        if types and spec.instance_type not in types:
            raise DeployError(
                f"endpoint {name} autoscales on {', '.join(sorted(types))}; SageMaker refuses an "
                f"update to {spec.instance_type} while it does: run "
                f"`python -m deploy autoscale --endpoint {name} --off` first, then autoscale again"
            )

    def _create(self, name: str, config: str, smoke: SmokeTest | None) -> dict[str, Any]:
        self.aws.sagemaker.create_endpoint(
            EndpointName=name, EndpointConfigName=config, Tags=tags(endpoint=name)
        )
        final = self._wait(name)
        if final["EndpointStatus"] != "InService":
            raise DeployError(
                f"endpoint {name} is {final['EndpointStatus']}: "
                f"{final.get('FailureReason', 'no reason given')} (CloudWatch logs: "
                f"/aws/sagemaker/Endpoints/{name}); remove it with `python -m deploy delete {name}`"
            )
        if smoke:
            smoke(name)
        return final

    def _update(
        self, spec: EndpointSpec, previous: str, config: str, smoke: SmokeTest | None
    ) -> dict[str, Any]:
        name = spec.endpoint_name
        self.console.print(
            f"updating {name}: {previous} -> {config} (blue/green, {spec.rollout.strategy})"
        )
        self.aws.sagemaker.update_endpoint(
            EndpointName=name,
            EndpointConfigName=config,
            DeploymentConfig=spec.rollout.deployment_config(
                spec.rollback_alarms, self.poll.timeout_s
            ),
        )
        final = self._wait(name)
        status, reason = final["EndpointStatus"], final.get("FailureReason", "no reason given")
        if status == "InService" and final["EndpointConfigName"] == config:
            if smoke:
                try:
                    smoke(name)
                except DeployError as exc:
                    self.rollback(name, previous)
                    raise DeployError(
                        f"the new version failed its smoke test ({exc}); rolled back to {previous}"
                    ) from exc
            return final
        if status == "InService":
            self._discard(config)
            raise DeployError(
                f"update of {name} failed ({reason}); SageMaker kept {final['EndpointConfigName']} serving"
            )
        if status == "UpdateRollbackFailed":
            self.rollback(name, previous)
            raise DeployError(f"update of {name} failed ({reason}); rolled back to {previous}")
        raise DeployError(
            f"endpoint {name} is {status} after the update: {reason}; "
            f"SageMaker only allows deleting it: `python -m deploy delete {name}`"
        )

    def rollback(self, name: str, config: str) -> dict[str, Any]:
        """Move the endpoint back onto an earlier config and wait for it."""
        self.console.print(f"[yellow]rolling {name} back to {config}[/yellow]")
        self.aws.sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=config)
        final = self._wait(name)
        if final["EndpointStatus"] != "InService":
            raise DeployError(
                f"rollback of {name} to {config} ended {final['EndpointStatus']}: "
                f"{final.get('FailureReason', 'no reason given')}"
            )
        return final

    def _discard(self, version: str) -> None:
        """Remove a config and model that never served, best effort."""
        for call, key in (
            (self.aws.sagemaker.delete_endpoint_config, "EndpointConfigName"),
            (self.aws.sagemaker.delete_model, "ModelName"),
        ):
            try:
                call(**{key: version})
            except ClientError:
                self.console.print(f"[dim]could not remove {version}; `delete` will[/dim]")
