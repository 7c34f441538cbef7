"""Application Auto Scaling for an endpoint variant: target tracking on a predefined metric."""

from __future__ import annotations

from typing import Any

from deploy.aws import Aws

DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRICS = {
    # Concurrent requests per model copy, sampled every 10 s: reacts faster than invocations.
    "concurrency": "SageMakerVariantConcurrentRequestsPerModelHighResolution",
    "invocations": "SageMakerVariantInvocationsPerInstance",
}
# Starting points, to be replaced by what a load test (loadtests/) measures: in-flight requests
# per instance that keep latency within the SLO, or requests per instance per minute.
DEFAULT_TARGETS = {"concurrency": 8.0, "invocations": 3000.0}


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def policy_name(endpoint: str, metric: str) -> str:
    return f"{endpoint}-{metric}-target-tracking"


def enable(
    aws: Aws,
    endpoint: str,
    variant: str,
    minimum: int,
    maximum: int,
    metric: str,
    target: float,
    scale_in_cooldown_s: int,
    scale_out_cooldown_s: int,
) -> str:
    """Register the variant and attach a target-tracking policy; returns the policy ARN."""
    resource = resource_id(endpoint, variant)
    aws.autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=DIMENSION,
        MinCapacity=minimum,
        MaxCapacity=maximum,
    )
    response = aws.autoscaling.put_scaling_policy(
        PolicyName=policy_name(endpoint, metric),
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": target,
            "PredefinedMetricSpecification": {"PredefinedMetricType": METRICS[metric]},
            "ScaleInCooldown": scale_in_cooldown_s,
            "ScaleOutCooldown": scale_out_cooldown_s,
        },
    )
    return str(response["PolicyARN"])


def current(aws: Aws, endpoint: str, variant: str) -> dict[str, Any] | None:
    targets = aws.autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker",
        ResourceIds=[resource_id(endpoint, variant)],
        ScalableDimension=DIMENSION,
    )["ScalableTargets"]
    return dict(targets[0]) if targets else None


def disable(aws: Aws, endpoint: str, variant: str) -> bool:
    """Remove the policies and the scalable target; False when there was none."""
    if current(aws, endpoint, variant) is None:
        return False
    resource = resource_id(endpoint, variant)
    policies = aws.autoscaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=DIMENSION
    )["ScalingPolicies"]
    for policy in policies:
        aws.autoscaling.delete_scaling_policy(
            PolicyName=policy["PolicyName"],
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=DIMENSION,
        )
    aws.autoscaling.deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=DIMENSION
    )
    return True
