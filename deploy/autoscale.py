"""Application Auto Scaling for an endpoint variant: target tracking on a predefined metric;
for asynchronous endpoints on the queue's backlog and for inference components on copies,
both down to zero with a step policy and an alarm that bring capacity back (AWS's recipe)."""

from __future__ import annotations

from typing import Any

from deploy.aws import Aws
from deploy.hosting_modes import Asynchronous, Components
from deploy.observability import SAGEMAKER_NAMESPACE

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
    """Remove the policies, the scalable target and any wake-from-zero alarm; False when there
    was no scalable target."""
    if current(aws, endpoint, variant) is None:
        return False
    _remove(aws, resource_id(endpoint, variant), DIMENSION)
    _delete_alarm(aws, backlog_alarm_name(endpoint))
    return True


def _remove(aws: Aws, resource: str, dimension: str) -> None:
    policies = aws.autoscaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=dimension
    )["ScalingPolicies"]
    for policy in policies:
        aws.autoscaling.delete_scaling_policy(
            PolicyName=policy["PolicyName"],
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=dimension,
        )
    aws.autoscaling.deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=dimension
    )


# Asynchronous endpoints: the queue's backlog per instance, down to zero instances.
BACKLOG_METRIC = "ApproximateBacklogSizePerInstance"
WAKE_METRIC_ASYNC = "HasBacklogWithoutCapacity"


def backlog_alarm_name(endpoint: str) -> str:
    return f"{endpoint}-has-backlog-without-capacity"


def enable_backlog(aws: Aws, endpoint: str, variant: str, hosting: Asynchronous) -> list[str]:
    """Target tracking on the backlog per instance from `min_instances` (0: the fleet goes away
    with the queue), and a step policy that adds an instance when requests wait with none to
    serve them: target tracking alone never scales out from zero. Returns the policy ARNs."""
    resource = resource_id(endpoint, variant)
    aws.autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=DIMENSION,
        MinCapacity=hosting.min_instances,
        MaxCapacity=hosting.max_instances,
    )
    endpoint_dimension = [{"Name": "EndpointName", "Value": endpoint}]
    tracking = aws.autoscaling.put_scaling_policy(
        PolicyName=f"{endpoint}-backlog-target-tracking",
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": hosting.backlog_target,
            "CustomizedMetricSpecification": {
                "MetricName": BACKLOG_METRIC,
                "Namespace": SAGEMAKER_NAMESPACE,
                "Dimensions": endpoint_dimension,
                "Statistic": "Average",
            },
            "ScaleInCooldown": 600,
            "ScaleOutCooldown": 300,
        },
    )
    arns = [str(tracking["PolicyARN"])]
    if hosting.min_instances == 0:
        arns.append(
            _wake_from_zero(
                aws,
                resource,
                DIMENSION,
                backlog_alarm_name(endpoint),
                WAKE_METRIC_ASYNC,
                endpoint_dimension,
                statistic="Average",
                period_s=60,
                periods=2,
                cooldown_s=300,
            )
        )
    return arns


# Inference components: copies of the model, down to zero copies (and instances).
COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
COPY_METRIC = "SageMakerInferenceComponentInvocationsPerCopy"
# SageMaker's name for an invocation refused for want of a copy ("Scale an endpoint to zero
# instances"); published once a minute, so the alarm's period is a minute too.
WAKE_METRIC_COMPONENT = "NoCapacityInvocationFailures"


def component_resource_id(component: str) -> str:
    return f"inference-component/{component}"


def copies_alarm_name(component: str) -> str:
    return f"{component}-no-capacity-invoke-failures"


def enable_copies(aws: Aws, component: str, hosting: Components) -> list[str]:
    """Target tracking on invocations per copy between `min_copies` and `max_copies`; at zero
    copies a request fails with no capacity, and a step policy on that failure adds a copy."""
    resource = component_resource_id(component)
    aws.autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=COPY_DIMENSION,
        MinCapacity=hosting.min_copies,
        MaxCapacity=hosting.max_copies,
    )
    tracking = aws.autoscaling.put_scaling_policy(
        PolicyName=f"{component}-copies-target-tracking",
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=COPY_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": hosting.invocations_target,
            "PredefinedMetricSpecification": {"PredefinedMetricType": COPY_METRIC},
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    )
    arns = [str(tracking["PolicyARN"])]
    if hosting.scales_to_zero:
        arns.append(
            _wake_from_zero(
                aws,
                resource,
                COPY_DIMENSION,
                copies_alarm_name(component),
                WAKE_METRIC_COMPONENT,
                [{"Name": "InferenceComponentName", "Value": component}],
                statistic="Maximum",
                period_s=60,  # a 30 s period on a 1-minute metric sits in INSUFFICIENT_DATA
                periods=1,
                cooldown_s=60,
            )
        )
    return arns


def disable_copies(aws: Aws, component: str) -> bool:
    """Remove the component's scaling and its alarm; False when it had none."""
    resource = component_resource_id(component)
    targets = aws.autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource], ScalableDimension=COPY_DIMENSION
    )["ScalableTargets"]
    if not targets:
        return False
    _remove(aws, resource, COPY_DIMENSION)
    _delete_alarm(aws, copies_alarm_name(component))
    return True


def _delete_alarm(aws: Aws, name: str) -> None:
    """DeleteAlarms fails on a name that does not exist: look first."""
    if aws.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
        aws.cloudwatch.delete_alarms(AlarmNames=[name])


def _wake_from_zero(
    aws: Aws,
    resource: str,
    dimension: str,
    alarm: str,
    metric: str,
    dimensions: list[dict[str, str]],
    *,
    statistic: str,
    period_s: int,
    periods: int,
    cooldown_s: int,
) -> str:
    """A step policy adding one unit of capacity, fired by an alarm on `metric` >= 1."""
    step = aws.autoscaling.put_scaling_policy(
        PolicyName=f"{alarm}-step",
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=dimension,
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": statistic,
            "Cooldown": cooldown_s,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
        },
    )
    arn = str(step["PolicyARN"])
    aws.cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        AlarmDescription=f"Adds capacity to {resource} when {metric} shows work and none to do it",
        Namespace=SAGEMAKER_NAMESPACE,
        MetricName=metric,
        Dimensions=dimensions,
        Statistic=statistic,
        Period=period_s,
        EvaluationPeriods=periods,
        DatapointsToAlarm=periods,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="missing",
        AlarmActions=[arn],
    )
    return arn
