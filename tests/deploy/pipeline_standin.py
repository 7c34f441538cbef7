"""What moto's SageMaker Pipelines lacks, patched into the moto server's process.

moto 5 stores pipelines and executions but has no ListPipelineExecutionSteps, and settles
every execution at once as Succeeded with an empty FailureReason. Here:

- ListPipelineExecutionSteps answers in the real API's shape (PipelineExecutionStepSummary:
  StepName, StartTime, EndTime, StepStatus, FailureReason, Metadata), newest first as its
  SortOrder default says, paged by MaxResults/NextToken, and a ValidationException for an
  unknown execution, as moto's other execution calls give;
- DescribePipelineExecution and ListPipelineExecutions report the status and failure reason a
  test scripted for the execution (moto lists a missing reason as the string "None"; the API
  leaves the field out).

A test scripts what SageMaker would report with `STEPS.script(arn, status, reason, summaries)`.
AWS documents: SageMaker API Reference, ListPipelineExecutionSteps,
PipelineExecutionStepSummary, DescribePipelineExecution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import fake_sagemaker
from moto.core.responses import ActionResult
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import get_pipeline_execution_from_arn


@dataclass
class Steps:
    summaries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def script(
        self, backend: Any, arn: str, status: str, reason: str, steps: list[dict[str, Any]]
    ) -> None:
        execution = get_pipeline_execution_from_arn(backend.pipelines, arn)
        execution.pipeline_execution_status = status
        execution.pipeline_execution_failure_reason = reason or None  # type: ignore[assignment]
        self.summaries[arn] = steps


STEPS = Steps()


def install() -> list[tuple[type, str, Any]]:
    saved: list[tuple[type, str, Any]] = [
        (
            SageMakerModelBackend,
            "describe_pipeline_execution",
            SageMakerModelBackend.describe_pipeline_execution,
        ),
        (
            SageMakerModelBackend,
            "list_pipeline_executions",
            SageMakerModelBackend.list_pipeline_executions,
        ),
    ]
    describe, listing = saved[0][2], saved[1][2]
    # None while moto has no ListPipelineExecutionSteps of its own (5.2); kept if it gains one.
    native_steps = SageMakerResponse.__dict__.get("list_pipeline_execution_steps")

    def list_pipeline_executions(self: Any, pipeline_name: str) -> dict[str, Any]:
        listed = listing(self, pipeline_name)
        for summary in listed["PipelineExecutionSummaries"]:
            if summary.get("PipelineExecutionFailureReason") == "None":
                del summary["PipelineExecutionFailureReason"]
        return dict(listed)

    def describe_pipeline_execution(self: Any, pipeline_execution_arn: str) -> dict[str, Any]:
        described = dict(describe(self, pipeline_execution_arn))
        execution = get_pipeline_execution_from_arn(self.pipelines, pipeline_execution_arn)
        described["FailureReason"] = execution.pipeline_execution_failure_reason or ""
        return described

    def list_pipeline_execution_steps(self: Any) -> ActionResult:
        arn = self._get_param("PipelineExecutionArn")
        get_pipeline_execution_from_arn(self.sagemaker_backend.pipelines, arn)  # or 400
        newest_first = self._get_param("SortOrder", "Descending") == "Descending"
        steps = sorted(
            STEPS.summaries.get(arn, []), key=lambda s: s["StartTime"], reverse=newest_first
        )
        start = int(self._get_param("NextToken") or 0)
        size = int(self._get_param("MaxResults") or 20)
        page: dict[str, Any] = {"PipelineExecutionSteps": steps[start : start + size]}
        if start + size < len(steps):
            page["NextToken"] = str(start + size)
        return ActionResult(page)

    SageMakerModelBackend.describe_pipeline_execution = describe_pipeline_execution  # type: ignore[method-assign]
    SageMakerModelBackend.list_pipeline_executions = list_pipeline_executions  # type: ignore[method-assign]
    SageMakerResponse.list_pipeline_execution_steps = list_pipeline_execution_steps  # type: ignore[attr-defined]
    return [*saved, (SageMakerResponse, "list_pipeline_execution_steps", native_steps)]


def uninstall(saved: list[tuple[type, str, Any]]) -> None:
    fake_sagemaker.uninstall(saved)
    STEPS.summaries.clear()
