"""A scheduled retrain: an EventBridge Scheduler schedule that starts the pipeline.

Calls (EventBridge Scheduler API Reference): GetSchedule, CreateSchedule, UpdateSchedule,
DeleteSchedule, in the `default` schedule group. The schedule's target is the pipeline's ARN
with SageMakerPipelineParameters (the universal target "Start a SageMaker pipeline"); it runs
as a role EventBridge Scheduler assumes (deploy/iam/pipeline-scheduler-*.json).
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from deploy.aws import Aws
from deploy.errors import ConfigError, DeployError
from deploy.pipeline import operations
from deploy.pipeline.local import typed_parameters

# cron(minutes hours day-of-month month day-of-week year) or rate(value unit).
EXPRESSION = re.compile(
    r"^(cron\((\S+ ){5}\S+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$"
)


def schedule_name(pipeline: str) -> str:
    return f"{pipeline}-retrain"


def _existing(client: Any, name: str) -> dict[str, Any] | None:
    try:
        return dict(client.get_schedule(Name=name))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def put_schedule(
    aws: Aws,
    pipeline: str,
    expression: str,
    role_arn: str,
    overrides: dict[str, str],
    timezone: str = "UTC",
) -> tuple[str, bool]:
    """The schedule's ARN and whether it was created (False: updated)."""
    if not EXPRESSION.match(expression):
        raise ConfigError(
            f"--cron {expression!r} must be cron(MIN HOUR DAY MONTH WEEKDAY YEAR), e.g. "
            "'cron(0 3 ? * MON *)', or rate(N days|hours|minutes)"
        )
    described = operations.describe(aws, pipeline)
    if described is None:
        raise DeployError(f"no pipeline {pipeline!r}; create it with `pipeline upsert` first")
    typed_parameters(operations.definition_of(aws, pipeline), overrides)
    target: dict[str, Any] = {
        "Arn": described["PipelineArn"],
        "RoleArn": role_arn,
        "RetryPolicy": {"MaximumRetryAttempts": 0},  # a retrain is not retried blindly
    }
    if overrides:
        target["SageMakerPipelineParameters"] = {
            "PipelineParameterList": [{"Name": k, "Value": v} for k, v in overrides.items()]
        }
    request: dict[str, Any] = {
        "Name": schedule_name(pipeline),
        "Description": f"Retrain: start SageMaker pipeline {pipeline}",
        "ScheduleExpression": expression,
        "ScheduleExpressionTimezone": timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Target": target,
    }
    client = aws.client("scheduler")
    if _existing(client, request["Name"]) is None:
        return str(client.create_schedule(**request)["ScheduleArn"]), True
    return str(client.update_schedule(**request)["ScheduleArn"]), False


def delete_schedule(aws: Aws, pipeline: str) -> bool:
    """True if there was a schedule to delete."""
    client = aws.client("scheduler")
    if _existing(client, schedule_name(pipeline)) is None:
        return False
    client.delete_schedule(Name=schedule_name(pipeline))
    return True
