"""Several models behind one endpoint: production variants with weights, and a shadow.

An endpoint's layout lives in its endpoint config: production variants share live traffic in
proportion to their weights; a shadow variant gets a copy of a share of the production
variant's requests and its answers are discarded. Every change here is a new versioned
config and an `UpdateEndpoint` (blue/green, as `deploy` does), except weights and instance
counts, which `UpdateEndpointWeightsAndCapacities` changes in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console

from deploy import names
from deploy.aws import Aws, tags
from deploy.endpoint import ENDPOINT_TRANSIENT, describe_endpoint
from deploy.errors import DeployError
from deploy.waiting import Poll, wait_until_settled

MAX_PRODUCTION_VARIANTS = 10  # SageMaker's limit per endpoint config
# Config fields that move unchanged onto the next version of the endpoint's config.
# AsyncInferenceConfig and ExecutionRoleArn are part of the hosting mode: a config without them
# would move an asynchronous endpoint to real-time.
CARRIED_FIELDS = (
    "DataCaptureConfig",
    "MetricsConfig",
    "KmsKeyId",
    "AsyncInferenceConfig",
    "ExecutionRoleArn",
)


@dataclass(frozen=True)
class Layout:
    """What the endpoint serves now: its config's variants, and their live weights and counts."""

    endpoint: dict[str, Any]  # DescribeEndpoint
    config: dict[str, Any]  # DescribeEndpointConfig of the serving config

    @property
    def production(self) -> list[dict[str, Any]]:
        return list(self.config["ProductionVariants"])

    @property
    def shadows(self) -> list[dict[str, Any]]:
        return list(self.config.get("ShadowProductionVariants") or [])

    def variant(self, name: str) -> dict[str, Any]:
        for variant in self.production + self.shadows:
            if variant["VariantName"] == name:
                return variant
        listed = ", ".join(v["VariantName"] for v in self.production + self.shadows)
        raise DeployError(
            f"endpoint {self.endpoint['EndpointName']} has no variant {name!r} (it has {listed})"
        )

    def live(self, name: str) -> dict[str, Any]:
        """DescribeEndpoint's summary of a variant: CurrentWeight, CurrentInstanceCount."""
        summaries = self.endpoint.get("ProductionVariants", []) + self.endpoint.get(
            "ShadowProductionVariants", []
        )
        return next((s for s in summaries if s["VariantName"] == name), {})

    def carried(self) -> dict[str, Any]:
        return {key: self.config[key] for key in CARRIED_FIELDS if self.config.get(key)}


def layout(aws: Aws, endpoint: str) -> Layout:
    described = describe_endpoint(aws, endpoint)
    if described is None:
        raise DeployError(f"endpoint {endpoint} does not exist; deploy it first")
    config = aws.sagemaker.describe_endpoint_config(
        EndpointConfigName=described["EndpointConfigName"]
    )
    return Layout(described, dict(config))


def production_variant(
    name: str, model: str, instance_type: str, count: int, weight: float
) -> dict[str, Any]:
    """A ProductionVariant of CreateEndpointConfig (shadows have the same shape)."""
    return {
        "VariantName": name,
        "ModelName": model,
        "InstanceType": instance_type,
        "InitialInstanceCount": count,
        "InitialVariantWeight": weight,
        "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
    }


def create_config(
    aws: Aws,
    endpoint: str,
    production: list[dict[str, Any]],
    shadows: list[dict[str, Any]] | None = None,
    carried: dict[str, Any] | None = None,
) -> str:
    """A new versioned endpoint config with these variants; returns its name."""
    if not production:
        raise DeployError("an endpoint config needs at least one production variant")
    variant_names = [v["VariantName"] for v in production + (shadows or [])]
    if len(set(variant_names)) != len(variant_names):
        raise DeployError(f"variant names must be unique: {', '.join(variant_names)}")
    name = names.versioned(endpoint)
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": production,
        "Tags": tags(endpoint=endpoint),
        **(carried or {}),
    }
    if shadows:
        request["ShadowProductionVariants"] = shadows
    aws.sagemaker.create_endpoint_config(**request)
    return name


def serve(aws: Aws, console: Console, poll: Poll, endpoint: str, config: str) -> dict[str, Any]:
    """Create the endpoint on CONFIG, or move it there (blue/green); wait until it settles."""
    existing = describe_endpoint(aws, endpoint)
    if existing is None:
        aws.sagemaker.create_endpoint(
            EndpointName=endpoint, EndpointConfigName=config, Tags=tags(endpoint=endpoint)
        )
    elif existing["EndpointStatus"] in ENDPOINT_TRANSIENT:
        raise DeployError(
            f"endpoint {endpoint} is {existing['EndpointStatus']}; wait until it settles"
        )
    else:
        console.print(f"updating {endpoint}: {existing['EndpointConfigName']} -> {config}")
        aws.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    return _settled(aws, console, poll, endpoint, config)


def _settled(
    aws: Aws, console: Console, poll: Poll, endpoint: str, config: str | None
) -> dict[str, Any]:
    final = wait_until_settled(
        lambda: dict(aws.sagemaker.describe_endpoint(EndpointName=endpoint)),
        "EndpointStatus",
        ENDPOINT_TRANSIENT,
        f"endpoint {endpoint}",
        poll,
        console,
    )
    reason = final.get("FailureReason", "no reason given")
    if final["EndpointStatus"] != "InService":
        raise DeployError(f"endpoint {endpoint} is {final['EndpointStatus']}: {reason}")
    if config is not None and final["EndpointConfigName"] != config:
        raise DeployError(
            f"update of {endpoint} failed ({reason}); SageMaker kept "
            f"{final['EndpointConfigName']} serving"
        )
    return final


def set_weights(
    aws: Aws,
    console: Console,
    poll: Poll,
    endpoint: str,
    desired: list[dict[str, Any]],
) -> dict[str, Any]:
    """UpdateEndpointWeightsAndCapacities: weights (and counts) change in place, no new fleet."""
    aws.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=endpoint, DesiredWeightsAndCapacities=desired
    )
    return _settled(aws, console, poll, endpoint, None)


def shares(weights: dict[str, float]) -> dict[str, float]:
    """Each production variant's share of live traffic, in percent."""
    total = sum(weights.values())
    return {name: (100 * weight / total if total else 0.0) for name, weight in weights.items()}
