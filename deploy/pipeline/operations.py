"""The pipeline in SageMaker: create or update it, start, describe and list executions, delete.

Calls: CreatePipeline/UpdatePipeline/DescribePipeline/DeletePipeline,
StartPipelineExecution/DescribePipelineExecution/ListPipelineExecutions,
ListPipelineExecutionSteps (SageMaker API reference; deploy/iam/deployer-policy.json grants
them on `pipeline/headline-*` only).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from deploy.aws import Aws, tags
from deploy.errors import DeployError
from deploy.pipeline.definition import PipelineSpec, build_definition
from deploy.pipeline.local import typed_parameters
from deploy.registry import ensure_group


def _missing(exc: ClientError) -> bool:
    """SageMaker answers ResourceNotFound for an unknown pipeline (moto: a ValidationException
    saying it could not find it)."""
    error = exc.response.get("Error", {})
    message = str(error.get("Message", "")).lower()
    return error.get("Code") == "ResourceNotFound" or (
        error.get("Code") == "ValidationException"
        and ("does not exist" in message or "could not find" in message)
    )


def describe(aws: Aws, name: str) -> dict[str, Any] | None:
    try:
        return dict(aws.sagemaker.describe_pipeline(PipelineName=name))
    except ClientError as exc:
        if _missing(exc):
            return None
        raise


def upsert(aws: Aws, spec: PipelineSpec, pipeline_role_arn: str) -> tuple[str, bool]:
    """The pipeline's ARN, and whether it was created (False: updated in place)."""
    ensure_group(aws, spec.group)
    definition = json.dumps(build_definition(spec))
    fields = {
        "PipelineName": spec.name,
        "PipelineDefinition": definition,
        "PipelineDescription": "headline-serve: data checks, training, evaluation, quality gate, registration",
        "RoleArn": pipeline_role_arn,
    }
    if describe(aws, spec.name) is None:
        created = aws.sagemaker.create_pipeline(**fields, Tags=tags())
        return str(created["PipelineArn"]), True
    updated = aws.sagemaker.update_pipeline(**fields)
    return str(updated["PipelineArn"]), False


def definition_of(aws: Aws, name: str) -> dict[str, Any]:
    described = describe(aws, name)
    if described is None:
        raise DeployError(
            f"no pipeline {name!r}; create it with `python -m deploy pipeline upsert`"
        )
    return dict(json.loads(described["PipelineDefinition"]))


def start(aws: Aws, name: str, overrides: dict[str, str]) -> str:
    """Overrides are checked against the definition's parameters before the call."""
    typed_parameters(definition_of(aws, name), overrides)
    response = aws.sagemaker.start_pipeline_execution(
        PipelineName=name,
        PipelineParameters=[{"Name": key, "Value": value} for key, value in overrides.items()],
    )
    return str(response["PipelineExecutionArn"])


def executions(aws: Aws, name: str, limit: int = 20) -> list[dict[str, Any]]:
    response = aws.sagemaker.list_pipeline_executions(
        PipelineName=name, SortBy="CreationTime", SortOrder="Descending", MaxResults=limit
    )
    return list(response.get("PipelineExecutionSummaries", []))


def latest_execution(aws: Aws, name: str) -> str:
    found = executions(aws, name, limit=1)
    if not found:
        raise DeployError(f"pipeline {name!r} has no executions; start one with `pipeline start`")
    return str(found[0]["PipelineExecutionArn"])


def execution_status(aws: Aws, execution_arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """DescribePipelineExecution, and every step summary (all pages)."""
    described = dict(aws.sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn))
    steps: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = aws.sagemaker.list_pipeline_execution_steps(
            PipelineExecutionArn=execution_arn, **({"NextToken": token} if token else {})
        )
        steps += page.get("PipelineExecutionSteps", [])
        token = page.get("NextToken")
        if not token:
            return described, steps


def delete(aws: Aws, name: str) -> str | None:
    """The deleted pipeline's ARN; None if there was none."""
    if describe(aws, name) is None:
        return None
    return str(aws.sagemaker.delete_pipeline(PipelineName=name)["PipelineArn"])
