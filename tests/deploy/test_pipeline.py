"""`deploy pipeline`: the definition checked against the APIs its steps call, and the pipeline's
life in moto (upsert, start, status, executions, delete), with every call granted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pipeline_standin
import pytest
from botocore.validate import ParamValidator
from deploy_helpers import ACCOUNT, BUCKET, IMAGE, REGION, Cloud, run_cli
from moto.sagemaker.models import sagemaker_backends

from deploy.pipeline import definition as pipeline
from deploy.pipeline.expressions import Resolver

PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/headline-sagemaker-pipeline"
TRAINING_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/headline-serve-train:v1"
DATA = f"s3://{BUCKET}/headline-serve/data/headlines.csv"
IAM = Path(__file__).resolve().parents[2] / "deploy" / "iam"
SPEC = pipeline.PipelineSpec(
    name="headline-training",
    role_arn=PIPELINE_ROLE,
    training_image=TRAINING_IMAGE,
    serving_image=IMAGE,
    bucket=BUCKET,
    prefix="headline-serve",
    group="headline-topics",
    data_uri=DATA,
)
UPSERT = [
    "pipeline", "upsert", "--pipeline-role-arn", PIPELINE_ROLE, "--training-image",
    TRAINING_IMAGE, "--image", IMAGE, "--data", DATA,
]  # fmt: skip
# The API each step type's arguments are the request of, and the name field the pipeline fills.
STEP_APIS = {
    "Processing": ("CreateProcessingJob", {"ProcessingJobName": "pipelines-abc-PrepareData"}),
    "Training": ("CreateTrainingJob", {"TrainingJobName": "pipelines-abc-Train"}),
    "RegisterModel": ("CreateModelPackage", {}),
}


@pytest.fixture(scope="module", autouse=True)
def pipelines_standin(moto_url: str) -> Iterator[None]:
    saved = pipeline_standin.install()
    yield
    pipeline_standin.uninstall(saved)


def _all_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for step in steps:
        found.append(step)
        if step["Type"] == "Condition":
            found += _all_steps(step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"])
    return found


def _resolver(evaluation: dict[str, Any]) -> Resolver:
    """Values as an execution would have them once every step before the gate has run."""
    definition = pipeline.build_definition(SPEC)
    outputs: dict[str, Any] = {
        step: {
            "ProcessingOutputConfig": {
                "Outputs": [
                    {"OutputName": name, "S3Output": {"S3Uri": f"s3://{BUCKET}/headline-serve/x/{name}"}}
                    for name in names
                ]
            }
        }
        for step, names in ((pipeline.PREPARE, ("train", "test")), (pipeline.EVALUATE, ("evaluation",)))
    }  # fmt: skip
    outputs[pipeline.TRAIN] = {
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/headline-serve/x/model.tar.gz"}
    }
    return Resolver(
        {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]},
        {"PipelineExecutionId": "abc123", "PipelineName": SPEC.name},
        outputs,
        lambda step, name: evaluation,
    )


def _evaluation(accuracy: float, missed: str = "") -> dict[str, Any]:
    return {
        "multiclass_classification_metrics": {
            "accuracy": {"value": accuracy},
            "macro_f1": {"value": round(accuracy - 0.01, 4)},
        },
        "int8": {"accuracy_drop": 0.002},
        "gate": {"missed": missed},
    }


def test_every_step_sends_a_valid_request_of_the_api_it_calls() -> None:
    """Each step's arguments, with its expressions resolved, pass botocore's validation of the
    request they are (AWS: SageMaker Pipelines' JSON schema, "Pipeline definition JSON schema";
    API Reference: CreateProcessingJob, CreateTrainingJob, CreateModelPackage)."""
    definition = pipeline.build_definition(SPEC)
    assert definition["Version"] == "2020-12-01"
    model = botocore.session.get_session().get_service_model("sagemaker")
    resolve = _resolver(_evaluation(0.9))
    steps = _all_steps(definition["Steps"])
    assert [s["Name"] for s in steps] == [
        "PrepareData", "Train", "Evaluate", "QualityGate", "RegisterModel", "QualityGateFailed",
    ]  # fmt: skip
    checked = 0
    for step in steps:
        if step["Type"] not in STEP_APIS:
            continue
        api, filled = STEP_APIS[step["Type"]]
        request = resolve(step["Arguments"]) | filled
        report = ParamValidator().validate(request, model.operation_model(api).input_shape)
        assert not report.has_errors(), (step["Name"], report.generate_report())
        checked += 1
    assert checked == 4
    assert {p["Type"] for p in definition["Parameters"]} <= {
        "String",
        "Integer",
        "Float",
        "Boolean",
    }


def test_the_gate_reads_the_evaluation_and_the_fail_step_names_the_missed_figure() -> None:
    definition = pipeline.build_definition(SPEC)
    gate = definition["Steps"][-1]
    missed = "accuracy 0.4100 < MinAccuracy 0.8"
    resolve = _resolver(_evaluation(0.41, missed))
    conditions = gate["Arguments"]["Conditions"]
    assert [c["Type"] for c in conditions] == [
        "GreaterThanOrEqualTo", "GreaterThanOrEqualTo", "LessThanOrEqualTo",
    ]  # fmt: skip
    left = [resolve(c["LeftValue"]) for c in conditions]
    right = [resolve(c["RightValue"]) for c in conditions]
    assert left == [0.41, 0.40, 0.002] and right == [0.8, 0.8, 0.01]
    [fail] = gate["Arguments"]["ElseSteps"]
    assert missed in resolve(fail["Arguments"]["ErrorMessage"])
    [register] = gate["Arguments"]["IfSteps"]
    request = resolve(register["Arguments"])
    assert request["ModelApprovalStatus"] == "PendingManualApproval"
    assert request["CustomerMetadataProperties"]["accuracy"] == "0.41"
    assert request["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith(
        "/evaluation/evaluation.json"
    )


def test_upsert_start_status_executions_delete(cloud: Cloud) -> None:
    """AWS API Reference: CreatePipeline, UpdatePipeline, DescribePipeline,
    StartPipelineExecution, ListPipelineParametersForExecution, DescribePipelineExecution,
    ListPipelineExecutionSteps (stand-in: pipeline_standin), ListPipelineExecutions,
    DeletePipeline."""
    sagemaker: Any = cloud.client("sagemaker")
    created = run_cli(*UPSERT)
    assert created.exit_code == 0, created.output
    assert "created" in created.output
    described = sagemaker.describe_pipeline(PipelineName="headline-training")
    assert json.loads(described["PipelineDefinition"]) == pipeline.build_definition(SPEC)
    assert described["RoleArn"] == PIPELINE_ROLE
    sagemaker.describe_model_package_group(ModelPackageGroupName="headline-topics")

    again = run_cli(*UPSERT, "--base-model", "/opt/models/other")
    assert again.exit_code == 0 and "updated" in again.output, again.output
    defaults = {
        p["Name"]: p["DefaultValue"]
        for p in json.loads(
            sagemaker.describe_pipeline(PipelineName="headline-training")["PipelineDefinition"]
        )["Parameters"]
    }
    assert defaults["BaseModel"] == "/opt/models/other"

    started = run_cli("pipeline", "start", "--param", "Epochs=1", "--param", "MinAccuracy=0.95")
    assert started.exit_code == 0, started.output
    [summary] = sagemaker.list_pipeline_executions(PipelineName="headline-training")[
        "PipelineExecutionSummaries"
    ]
    arn = summary["PipelineExecutionArn"]
    assert arn in started.output.replace("\n", "")
    parameters = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    assert {(p["Name"], p["Value"]) for p in parameters["PipelineParameters"]} == {
        ("Epochs", "1"),
        ("MinAccuracy", "0.95"),
    }

    reason = "quality gate failed: accuracy 0.8409 < MinAccuracy 0.95; the model was not registered"
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    backend = sagemaker_backends[ACCOUNT][REGION]
    pipeline_standin.STEPS.script(
        backend, arn, "Failed", reason,
        [
            {"StepName": "PrepareData", "StartTime": t0, "EndTime": t0 + timedelta(seconds=4),
             "StepStatus": "Succeeded", "Metadata": {"ProcessingJob": {"Arn": "arn:aws:sagemaker:eu-west-1:123456789012:processing-job/pipelines-x-preparedata"}}},
            {"StepName": "Train", "StartTime": t0 + timedelta(seconds=5), "EndTime": t0 + timedelta(seconds=65),
             "StepStatus": "Succeeded", "Metadata": {"TrainingJob": {"Arn": "arn:aws:sagemaker:eu-west-1:123456789012:training-job/pipelines-x-train"}}},
            {"StepName": "QualityGate", "StartTime": t0 + timedelta(seconds=80), "EndTime": t0 + timedelta(seconds=80),
             "StepStatus": "Succeeded", "Metadata": {"Condition": {"Outcome": "False"}}},
            {"StepName": "QualityGateFailed", "StartTime": t0 + timedelta(seconds=81), "EndTime": t0 + timedelta(seconds=81),
             "StepStatus": "Failed", "FailureReason": reason, "Metadata": {"Fail": {"ErrorMessage": reason}}},
        ],
    )  # fmt: skip
    status = run_cli("pipeline", "status")
    assert status.exit_code == 0, status.output
    rows = [line for line in status.stdout.splitlines() if "│" in line]
    assert [row.split("│")[1].strip() for row in rows] == [
        "PrepareData", "Train", "QualityGate", "QualityGateFailed",
    ]  # fmt: skip
    assert "60 s" in rows[1] and "condition false" in rows[2]
    assert "Failed" in rows[3] and "accuracy 0.8409 < MinAccuracy 0.95" in rows[3]
    assert "status: Failed" in status.stdout

    listed = run_cli("pipeline", "executions")
    assert listed.exit_code == 0 and arn.rsplit("/", 1)[-1] in listed.output, listed.output
    assert "None" not in listed.output

    deleted = run_cli("pipeline", "delete", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []
    assert "nothing to delete" in run_cli("pipeline", "delete", "--yes").output


def test_start_refuses_parameters_the_definition_lacks_or_of_the_wrong_type(cloud: Cloud) -> None:
    sagemaker: Any = cloud.client("sagemaker")
    assert run_cli(*UPSERT).exit_code == 0
    unknown = run_cli("pipeline", "start", "--param", "Epoch=1")
    assert unknown.exit_code == 1
    assert "unknown pipeline parameter 'Epoch'" in unknown.output and "Epochs" in unknown.output
    wrong = run_cli("pipeline", "start", "--param", "MinAccuracy=high")
    assert wrong.exit_code == 1 and "not a Float" in wrong.output
    malformed = run_cli("pipeline", "start", "--param", "Epochs")
    assert malformed.exit_code == 2 and "NAME=VALUE" in malformed.output
    executions = sagemaker.list_pipeline_executions(PipelineName="headline-training")
    assert executions["PipelineExecutionSummaries"] == []


def test_status_without_a_pipeline_or_an_execution_says_what_to_do(cloud: Cloud) -> None:
    missing = run_cli("pipeline", "start")
    assert missing.exit_code == 1 and "pipeline upsert" in missing.output
    assert run_cli(*UPSERT).exit_code == 0
    idle = run_cli("pipeline", "status")
    assert idle.exit_code == 1 and "no executions" in idle.output


def _statements(name: str) -> list[dict[str, Any]]:
    return list(json.loads((IAM / name).read_text(encoding="utf-8"))["Statement"])


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        listed = statement["Action"]
        found.update([listed] if isinstance(listed, str) else listed)
    return found


# What SageMaker Pipelines does with the role for each step type (AWS: "IAM Access Management"
# for Pipelines; the jobs' own needs: "How to use SageMaker AI execution roles").
PIPELINE_ACTIONS = {
    "Processing": {"sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"},
    "Training": {"sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"},
    "RegisterModel": {"sagemaker:CreateModelPackage"},
    "Condition": set(),
    "Fail": set(),
}  # fmt: skip
JOB_ACTIONS = {
    "sagemaker:AddTags",  # Pipelines tags the jobs it creates with the execution's ARN
    "iam:PassRole",  # the jobs run as this same role
    "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListBucket",
    "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
    "ecr:GetAuthorizationToken",
    "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams",
    "cloudwatch:PutMetricData",  # the training job's metric definitions
}  # fmt: skip


def test_the_pipeline_role_grants_what_its_steps_need_and_nothing_else() -> None:
    """Least privilege for the pipeline's execution role, from the definition's step types."""
    statements = _statements("pipeline-execution-policy.json")
    steps = _all_steps(pipeline.build_definition(SPEC)["Steps"])
    needed = set().union(*(PIPELINE_ACTIONS[s["Type"]] for s in steps)) | JOB_ACTIONS
    assert _actions(statements) == needed
    for statement in statements:
        actions = _actions([statement])
        assert all("*" not in action for action in actions)
        resources = statement["Resource"]
        if resources == "*":  # only where IAM offers no resource to scope to
            assert actions <= {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}
    [pass_role] = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"].endswith(":role/headline-sagemaker-pipeline")
    assert (
        pass_role["Condition"]["StringEquals"]["iam:PassedToService"] == "sagemaker.amazonaws.com"
    )
    # Every S3 location the definition names lies under the prefix the role may touch.
    s3 = next(s for s in statements if "s3:PutObject" in _actions([s]))["Resource"]
    assert s3 == "arn:aws:s3:::BUCKET/headline-serve/*"
    assert SPEC.s3("x")["Std:Join"]["Values"][0].startswith(f"s3://{BUCKET}/headline-serve/")
    [trust] = _statements("pipeline-execution-trust.json")
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"


def test_the_deployer_may_pass_the_pipeline_role_to_sagemaker_only() -> None:
    statements = _statements("deployer-policy.json")
    [grant] = [s for s in statements if s["Sid"] == "TrainingPipeline"]
    assert all(r.split(":", 5)[5].startswith("pipeline/headline-") for r in grant["Resource"])
    [passing] = [s for s in statements if s["Sid"] == "PassOnlyThePipelineRoleOnlyToSageMaker"]
    assert passing["Resource"].endswith(":role/headline-sagemaker-pipeline")
    assert passing["Condition"]["StringEquals"]["iam:PassedToService"] == "sagemaker.amazonaws.com"


SCHEDULER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/headline-pipeline-scheduler"


def test_a_schedule_starts_the_pipeline_with_its_parameters(cloud: Cloud) -> None:
    """EventBridge Scheduler API Reference: CreateSchedule, GetSchedule, UpdateSchedule,
    DeleteSchedule; the target "Start a SageMaker pipeline" (Target.SageMakerPipelineParameters)."""
    scheduler: Any = cloud.client("scheduler")
    sagemaker: Any = cloud.client("sagemaker")
    schedule = ["pipeline", "schedule", "--scheduler-role-arn", SCHEDULER_ROLE]
    assert run_cli(*schedule, "--cron", "cron(0 3 ? * MON *)").exit_code == 1  # no pipeline yet
    assert run_cli(*UPSERT).exit_code == 0
    created = run_cli(*schedule, "--cron", "cron(0 3 ? * MON *)", "--param", "Epochs=2")
    assert created.exit_code == 0 and "schedule created" in created.output, created.output
    found = scheduler.get_schedule(Name="headline-training-retrain")
    assert found["ScheduleExpression"] == "cron(0 3 ? * MON *)"
    assert found["FlexibleTimeWindow"] == {"Mode": "OFF"}
    pipeline_arn = sagemaker.describe_pipeline(PipelineName="headline-training")["PipelineArn"]
    assert found["Target"]["Arn"] == pipeline_arn
    assert found["Target"]["RoleArn"] == SCHEDULER_ROLE
    assert found["Target"]["SageMakerPipelineParameters"] == {
        "PipelineParameterList": [{"Name": "Epochs", "Value": "2"}]
    }
    updated = run_cli(*schedule, "--cron", "rate(7 days)")
    assert updated.exit_code == 0 and "schedule updated" in updated.output, updated.output
    assert scheduler.get_schedule(Name="headline-training-retrain")["ScheduleExpression"] == (
        "rate(7 days)"
    )
    bad = run_cli(*schedule, "--cron", "every monday")
    assert bad.exit_code == 2 and "cron(" in bad.output
    assert run_cli(*schedule, "--cron", "rate(1 day)", "--param", "Epoch=2").exit_code == 1

    deleted = run_cli("pipeline", "delete", "--yes")
    assert "deleted schedule headline-training-retrain" in deleted.output, deleted.output
    assert scheduler.list_schedules()["Schedules"] == []
    assert "no schedule" in run_cli("pipeline", "unschedule").output


def test_the_scheduler_role_may_only_start_our_pipelines() -> None:
    [grant] = _statements("pipeline-scheduler-policy.json")
    assert grant["Action"] == "sagemaker:StartPipelineExecution"
    assert grant["Resource"] == "arn:aws:sagemaker:REGION:ACCOUNT_ID:pipeline/headline-*"
    [trust] = _statements("pipeline-scheduler-trust.json")
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "ACCOUNT_ID"}}
    passing = [s for s in _statements("deployer-policy.json") if "scheduler" in s["Sid"].lower()]
    [pass_role] = [s for s in passing if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"].endswith(":role/headline-pipeline-scheduler")
    assert (
        pass_role["Condition"]["StringEquals"]["iam:PassedToService"] == "scheduler.amazonaws.com"
    )
