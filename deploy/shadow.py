"""Shadow tests: a candidate model answers a copy of live requests; nobody sees its answers.

SageMaker takes the shadow in the endpoint config's `ShadowProductionVariants` (the same shape
as a production variant; one production and one shadow variant per endpoint). The share of
requests copied to the shadow is its weight relative to the production variant's: a shadow
weighted 0.25 beside production's 1.0 receives 25% of the requests. Each step below is a new
config and an UpdateEndpoint; the production variant keeps its name, so autoscaling and the
alarms on it keep applying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploy.errors import DeployError
from deploy.variants import Layout, production_variant

DEFAULT_SHADOW = "Shadow"


@dataclass(frozen=True)
class ShadowPlan:
    model: str  # the candidate's SageMaker model
    percent: float  # of production's requests copied to the shadow
    name: str = DEFAULT_SHADOW
    instance_type: str | None = None  # default: production's
    instance_count: int | None = None


def _single_production(layout: Layout) -> dict[str, Any]:
    production = layout.production
    if len(production) != 1:
        raise DeployError(
            f"endpoint {layout.endpoint['EndpointName']} serves {len(production)} production "
            "variants; a shadow test needs exactly one (SageMaker's rule)"
        )
    if "InstanceType" not in production[0]:
        raise DeployError("a shadow test needs an instance-backed variant (not serverless)")
    return production[0]


def with_shadow(
    layout: Layout, plan: ShadowPlan
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Production unchanged, plus the candidate as the shadow; (production, shadows)."""
    if layout.shadows:
        raise DeployError(
            f"endpoint {layout.endpoint['EndpointName']} already has shadow "
            f"{layout.shadows[0]['VariantName']}; `promote` or `stop-shadow` it first"
        )
    production = _single_production(layout)
    if plan.name == production["VariantName"]:
        raise DeployError(f"--name {plan.name} is the production variant's name")
    weight = float(production.get("InitialVariantWeight", 1.0)) * plan.percent / 100
    shadow = production_variant(
        plan.name,
        plan.model,
        plan.instance_type or production["InstanceType"],
        plan.instance_count or int(production["InitialInstanceCount"]),
        weight,
    )
    return [production], [shadow]


def shadow_of(layout: Layout) -> dict[str, Any]:
    if not layout.shadows:
        raise DeployError(f"endpoint {layout.endpoint['EndpointName']} has no shadow variant")
    return layout.shadows[0]


def promoted(layout: Layout) -> list[dict[str, Any]]:
    """The candidate (model, instance type and count) as the production variant, no shadow."""
    production, shadow = _single_production(layout), shadow_of(layout)
    return [
        production
        | {
            "ModelName": shadow["ModelName"],
            "InstanceType": shadow["InstanceType"],
            "InitialInstanceCount": shadow["InitialInstanceCount"],
        }
    ]


def stopped(layout: Layout) -> list[dict[str, Any]]:
    """Production alone, as it was."""
    shadow_of(layout)
    return [_single_production(layout)]


def sampling_percent(layout: Layout) -> float | None:
    if not layout.shadows:
        return None
    production = _single_production(layout)
    base = float(production.get("InitialVariantWeight", 1.0)) or 1.0
    return 100 * float(layout.shadows[0].get("InitialVariantWeight", 0.0)) / base
